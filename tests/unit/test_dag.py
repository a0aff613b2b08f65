"""Unit and property tests of `switchyard.logic.dag`: validation errors, order, depth, cycles."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.logic.dag import Dag, check_components
from switchyard.logic.errors import InvalidSpec
from switchyard.models.workflow import NodeSpec


def node(name: str, *deps: str, component: str = "proc") -> NodeSpec:
    return NodeSpec(name=name, component=component, depends_on=list(deps))


def invalid(nodes: Sequence[NodeSpec]) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as caught:
        Dag.build(nodes)
    return caught.value


def test_invalid_spec_carries_reason_and_message() -> None:
    error = InvalidSpec("Cycle", "dependency cycle: a -> b -> a")
    assert error.reason == "Cycle"
    assert error.message == "dependency cycle: a -> b -> a"
    assert str(error) == "dependency cycle: a -> b -> a"


def test_build_maps_order_and_depth() -> None:
    dag = Dag.build([node("a"), node("b", "a", "a"), node("c"), node("d", "b", "c")])
    assert list(dag.nodes) == ["a", "b", "c", "d"]
    assert dag.deps == {"a": (), "b": ("a",), "c": (), "d": ("b", "c")}
    assert dag.dependents == {"a": ("b",), "b": ("d",), "c": ("d",), "d": ()}
    assert dag.order == ("a", "c", "b", "d")  # by level, ties by spec order
    assert dag.depth == 3
    assert dag.roots() == ("a", "c")
    assert dag.descendants("a") == {"b", "d"}
    assert dag.descendants("d") == set()


def test_order_is_stable_by_spec_order() -> None:
    dag = Dag.build([node("z"), node("y"), node("x", "z"), node("w", "y")])
    assert dag.order == ("z", "y", "x", "w")
    assert dag.depth == 2


def test_a_built_dag_keeps_slotted_nodes_not_the_specs() -> None:
    """A run holds its DAG until it ends: the nodes are small records, the validated specs can go."""
    spec = [node("a"), NodeSpec(name="b", component="other", depends_on=["a", "a"], config={"k": [1]})]
    dag = Dag.build(spec)
    a, b = dag.nodes["a"], dag.nodes["b"]
    assert not isinstance(a, NodeSpec) and not hasattr(a, "__dict__")
    assert (b.name, b.component, b.depends_on, dict(b.config)) == ("b", "other", ("a",), {"k": [1]})
    assert b.depends_on is dag.deps["b"]
    assert not a.config and a.config is Dag.build([node("z")]).nodes["z"].config  # one shared empty mapping


def test_single_node() -> None:
    dag = Dag.build([node("only")])
    assert dag.order == ("only",)
    assert dag.depth == 1
    assert dag.roots() == ("only",)


def test_no_nodes() -> None:
    error = invalid([])
    assert (error.reason, error.message) == ("NoNodes", "the workflow has no nodes")


def test_duplicate_node() -> None:
    error = invalid([node("a"), node("b"), node("a"), node("b")])
    assert (error.reason, error.message) == ("DuplicateNode", "duplicate node name 'a'")


def test_self_dependency() -> None:
    error = invalid([node("a"), node("b", "a", "b")])
    assert (error.reason, error.message) == ("SelfDependency", "node 'b' depends on itself")


def test_unknown_dependency() -> None:
    error = invalid([node("a"), node("b", "a", "x"), node("c", "y")])
    assert (error.reason, error.message) == ("UnknownDependency", "node 'b' depends on unknown node 'x'")


def test_checks_run_in_order() -> None:
    # duplicates before self-deps before unknown deps before cycles
    assert invalid([node("a", "a"), node("a")]).reason == "DuplicateNode"
    assert invalid([node("a", "x"), node("b", "b")]).reason == "SelfDependency"
    assert invalid([node("a", "b"), node("b", "a"), node("c", "x")]).reason == "UnknownDependency"


def test_cycle_message_starts_at_first_cycle_node_in_spec_order() -> None:
    error = invalid([node("a", "c"), node("b", "a"), node("c", "b"), node("d", "a")])
    assert (error.reason, error.message) == ("Cycle", "dependency cycle: a -> c -> b -> a")


def test_cycle_ignores_nodes_that_only_depend_on_a_cycle() -> None:
    # z and y sit behind the cycle (a <-> b) but are not on it; z comes first in spec order.
    error = invalid([node("z", "y"), node("y", "a"), node("a", "b"), node("b", "a")])
    assert error.message == "dependency cycle: a -> b -> a"


def test_cycle_is_a_shortest_one_through_the_start() -> None:
    error = invalid([node("a", "b", "c"), node("b", "c"), node("c", "d"), node("d", "a")])
    assert error.message == "dependency cycle: a -> c -> d -> a"


def test_long_chain_builds_without_recursion() -> None:
    names = [f"n{i}" for i in range(20_000)]
    nodes = [node(names[0])] + [node(names[i], names[i - 1]) for i in range(1, len(names))]
    dag = Dag.build(nodes)
    assert dag.depth == 20_000
    assert dag.order == tuple(names)
    assert len(dag.descendants("n0")) == 19_999


def test_long_cycle_is_found_without_recursion() -> None:
    names = [f"n{i}" for i in range(20_000)]
    nodes = [node(names[i], names[i - 1]) for i in range(len(names))]  # n0 depends on the last one
    error = invalid(nodes)
    assert error.reason == "Cycle"
    assert error.message.startswith("dependency cycle: n0 -> n19999 -> n19998")
    assert error.message.endswith("n1 -> n0")


def test_check_components() -> None:
    nodes = [node("a", component="json-processor"), node("b", component="foo"), node("c", component="bar")]
    check_components(nodes[:1], ["json-processor"])
    with pytest.raises(InvalidSpec) as caught:
        check_components(nodes, ("json-processor",))
    assert (caught.value.reason, caught.value.message) == (
        "UnknownComponent",
        "node 'b' uses unknown component 'foo'",
    )


# --- properties ---------------------------------------------------------------------------------


@st.composite
def acyclic_specs(draw: st.DrawFn) -> list[NodeSpec]:
    """Random DAGs: node i depends only on earlier nodes, then the list is shuffled.

    The graph comes from a drawn seed (cheap to generate: hypothesis draws three numbers per example).
    """
    count = draw(st.integers(min_value=1, max_value=60))
    max_deps = draw(st.integers(min_value=0, max_value=6))
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    names = [f"n{i}" for i in range(count)]
    nodes = [node(name, *rng.sample(names[:i], k=min(i, rng.randint(0, max_deps)))) for i, name in enumerate(names)]
    rng.shuffle(nodes)
    return nodes


def longest_path(nodes: Sequence[NodeSpec]) -> int:
    """Nodes on the longest dependency path, by memoised search (independent of the Kahn levels)."""
    deps = {n.name: set(n.depends_on) for n in nodes}
    memo: dict[str, int] = {}

    def length(name: str) -> int:
        if name not in memo:
            memo[name] = 1 + max((length(d) for d in deps[name]), default=0)
        return memo[name]

    return max(length(n.name) for n in nodes)


@settings(max_examples=300, deadline=None)
@given(acyclic_specs())
def test_random_dags_order_respects_edges_and_depth(nodes: list[NodeSpec]) -> None:
    dag = Dag.build(nodes)
    assert sorted(dag.order) == sorted(n.name for n in nodes)
    position = {name: i for i, name in enumerate(dag.order)}
    for n in nodes:
        for dep in n.depends_on:
            assert position[dep] < position[n.name]
            assert n.name in dag.dependents[dep]
    assert dag.depth == longest_path(nodes)
    assert set(dag.roots()) == {n.name for n in nodes if not n.depends_on}


@settings(max_examples=300, deadline=None)
@given(acyclic_specs(), st.data())
def test_random_graphs_with_a_back_edge_report_a_real_cycle(nodes: list[NodeSpec], data: st.DataObject) -> None:
    dag = Dag.build(nodes)
    edges = [(n.name, dep) for n in nodes for dep in n.depends_on]
    if not edges:
        return
    # The back edge: a node that `child` reaches along dependencies now depends on `child` too.
    child, dep = data.draw(st.sampled_from(edges))
    reachable = [dep]
    seen = {dep}
    while reachable:
        current = reachable.pop()
        for d in dag.deps[current]:
            if d not in seen:
                seen.add(d)
                reachable.append(d)
    target = data.draw(st.sampled_from(sorted(seen)))
    cyclic = [
        NodeSpec(name=n.name, component=n.component, depends_on=[*n.depends_on, child]) if n.name == target else n
        for n in nodes
    ]
    error = invalid(cyclic)
    assert error.reason == "Cycle"
    prefix = "dependency cycle: "
    assert error.message.startswith(prefix)
    path = error.message[len(prefix) :].split(" -> ")
    assert len(path) >= 3 and path[0] == path[-1]
    assert len(set(path[:-1])) == len(path) - 1
    deps = {n.name: set(n.depends_on) for n in cyclic}
    for a, b in itertools.pairwise(path):
        assert b in deps[a], f"{a} -> {b} is not an edge"
    # It starts at the first node, in spec order, that lies on any cycle.
    on_cycle = nodes_on_cycles(deps)
    first = next(n.name for n in cyclic if n.name in on_cycle)
    assert path[0] == first


def nodes_on_cycles(deps: dict[str, set[str]]) -> set[str]:
    """Nodes that can reach themselves (quadratic, fine for test sizes)."""
    result = set()
    for start in deps:
        stack, seen = list(deps[start]), set()
        while stack:
            current = stack.pop()
            if current == start:
                result.add(start)
                break
            if current not in seen:
                seen.add(current)
                stack.extend(deps[current])
    return result
