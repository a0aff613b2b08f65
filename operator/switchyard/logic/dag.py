"""A workflow's nodes as a validated DAG: dependency maps, a stable topological order and the depth.

Everything is iterative and O(V+E), so 5,000-node (and far larger) workflows cost no recursion.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from switchyard.logic.errors import InvalidSpec
from switchyard.models.workflow import ForEach, NodeSpec

NO_CONFIG: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DagNode:
    """A validated node as a run keeps it: a slotted record, not the pydantic `NodeSpec` it was read from.

    A run holds its DAG until it ends (20,000 nodes at 1,000 Workflows x 20); a `NodeSpec` with its instance
    dict, fields-set set, list and config dict costs ~0.7 KiB, this ~70 bytes (`depends_on` is the DAG's own
    tuple, a config is shared with the spec it came from, and an empty one is one shared mapping)."""

    name: str
    component: str
    depends_on: tuple[str, ...]
    config: Mapping[str, Any]
    when: str | None = None  # the node's CEL condition (`logic.when`)
    for_each: ForEach | None = None  # fan-out over a list (`logic.foreach`)


@dataclass(frozen=True)
class Dag:
    """A validated DAG. Edges point from a node to its dependencies (`a -> b`: a depends on b).

    `order` lists nodes by level (a root is level 0, any other node one more than its deepest
    dependency), ties by spec order: every node comes after all of its dependencies.
    """

    nodes: dict[str, DagNode]
    deps: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]
    order: tuple[str, ...]
    depth: int

    @classmethod
    def build(cls, nodes: Sequence[NodeSpec]) -> Dag:
        """Validate `nodes` and build the DAG; raises InvalidSpec on the first problem found.

        Checked in this order, each in spec order: no nodes, duplicate names, self-dependencies,
        unknown dependencies, cycles.
        """
        if not nodes:
            raise InvalidSpec("NoNodes", "the workflow has no nodes")
        by_name: dict[str, NodeSpec] = {}  # NodeSpec or anything shaped like it (a DagNode)
        for node in nodes:
            if node.name in by_name:
                raise InvalidSpec("DuplicateNode", f"duplicate node name {node.name!r}")
            by_name[node.name] = node
        for node in nodes:
            if node.name in node.depends_on:
                raise InvalidSpec("SelfDependency", f"node {node.name!r} depends on itself")
        for node in nodes:
            for dep in node.depends_on:
                if dep not in by_name:
                    raise InvalidSpec("UnknownDependency", f"node {node.name!r} depends on unknown node {dep!r}")

        deps = {node.name: tuple(dict.fromkeys(node.depends_on)) for node in nodes}
        dependents_lists: dict[str, list[str]] = {name: [] for name in by_name}
        for name, node_deps in deps.items():
            for dep in node_deps:
                dependents_lists[dep].append(name)
        dependents = {name: tuple(names) for name, names in dependents_lists.items()}

        levels = _levels(deps, dependents)
        if len(levels) < len(by_name):
            cycle = _find_cycle([name for name in by_name if name not in levels], deps)
            raise InvalidSpec("Cycle", "dependency cycle: " + " -> ".join(cycle))
        depth = max(levels.values()) + 1
        buckets: list[list[str]] = [[] for _ in range(depth)]
        for name in by_name:  # spec order within each level
            buckets[levels[name]].append(name)
        order = tuple(name for bucket in buckets for name in bucket)
        kept = {
            name: DagNode(
                name,
                node.component,
                deps[name],
                node.config or NO_CONFIG,
                getattr(node, "when", None),
                getattr(node, "for_each", None),
            )
            for name, node in by_name.items()
        }
        return cls(nodes=kept, deps=deps, dependents=dependents, order=order, depth=depth)

    @cached_property
    def components(self) -> frozenset[str]:
        """The components the nodes name (not their fallbacks): computed once, the DAG never changes."""
        return frozenset(node.component for node in self.nodes.values())

    def roots(self) -> tuple[str, ...]:
        """Nodes without dependencies, in spec order."""
        return tuple(name for name, node_deps in self.deps.items() if not node_deps)

    def descendants(self, name: str) -> set[str]:
        """Every node that depends on `name`, directly or transitively (not `name` itself)."""
        seen: set[str] = set()
        stack = list(self.dependents[name])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.dependents[current])
        return seen


def check_components(nodes: Sequence[NodeSpec], known: Collection[str]) -> None:
    """Raise InvalidSpec for the first node (in spec order) whose component is not in `known`."""
    known_names = known if isinstance(known, set | frozenset | dict) else set(known)
    for node in nodes:
        if node.component not in known_names:
            raise InvalidSpec("UnknownComponent", f"node {node.name!r} uses unknown component {node.component!r}")


def _levels(deps: dict[str, tuple[str, ...]], dependents: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Kahn's algorithm: the level of every node not on or behind a cycle (those are left out)."""
    waiting = {name: len(node_deps) for name, node_deps in deps.items()}
    levels = {name: 0 for name, count in waiting.items() if count == 0}
    queue = deque(levels)
    while queue:
        current = queue.popleft()
        for dependent in dependents[current]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                # All dependencies are levelled by now (each was queued before this count hit 0).
                levels[dependent] = max(levels[dep] for dep in deps[dependent]) + 1
                queue.append(dependent)
    return levels


def _find_cycle(candidates: list[str], deps: dict[str, tuple[str, ...]]) -> list[str]:
    """A shortest cycle through the first (spec order) of `candidates` that lies on a cycle.

    `candidates` are the nodes Kahn could not order, in spec order: the nodes on cycles and the nodes
    depending on them. Tarjan's algorithm (iterative) separates the two; a BFS along dependency
    edges then finds the cycle. The result starts and ends with the same node.
    """
    inside = set(candidates)
    component = _strongly_connected(candidates, deps, inside)
    start = next(name for name in candidates if component[name][1] > 1)
    start_component = component[start][0]
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for dep in deps[current]:
            if dep == start:
                path = [current]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if dep not in parent and component.get(dep, (-1, 0))[0] == start_component:
                parent[dep] = current
                queue.append(dep)
    raise AssertionError("a strongly connected component of size > 1 has a cycle")  # pragma: no cover


def _strongly_connected(
    candidates: list[str], deps: dict[str, tuple[str, ...]], inside: set[str]
) -> dict[str, tuple[int, int]]:
    """Tarjan's SCCs over the subgraph `inside`: node -> (component id, component size)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: dict[str, tuple[int, int]] = {}
    counter = 0
    for root in candidates:
        if root in index:
            continue
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work[-1]
            node_deps = deps[node]
            if position < len(node_deps):
                work[-1] = (node, position + 1)
                dep = node_deps[position]
                if dep not in inside:
                    continue
                if dep not in index:
                    index[dep] = lowlink[dep] = counter
                    counter += 1
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, 0))
                elif dep in on_stack:
                    lowlink[node] = min(lowlink[node], index[dep])
                continue
            work.pop()
            if work:
                caller = work[-1][0]
                lowlink[caller] = min(lowlink[caller], lowlink[node])
            if lowlink[node] == index[node]:
                members: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                for member in members:
                    result[member] = (index[node], len(members))
    return result
