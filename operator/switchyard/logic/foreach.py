"""`forEach` on a node: fan-out over a list, fan-in of the instances' outputs (pure).

Checked before the run (`check_for_each`): one source, `fromNode` among the node's dependencies, `maxParallel`
within the Workflow's `parallelism`. At run time it is a node feature (`logic.features`): when the node is
ready, inline `items` expand at once; `fromNode` defers for the dependency's full output, which the observe
half (`k8s.foreachfacts`) reads from the outputs ConfigMaps. The verdict `Expand(items)` makes the engine
(`WorkflowRun._expand`) add one instance `NODE[i]` per item to the run, each with its item in the outputs
ConfigMap under `item_key` (written before the first instance Job, which mounts it). The node itself is the
summary: `Running` with `progress` while instances run, then Succeeded (its output `results.json`, the array
of the instances' results in index order) when succeeded/total >= `minSuccessRatio`, else Failed.

Durable by construction: the expansion is a function of the spec and recorded outputs, and instance Job
names are a function of (node, index, attempt); a restarted runner expands again, keeps the instances' recorded
states (`RunState.recorded`) and adopts Jobs that already exist (no duplicate, no lost item).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard

import cel

from switchyard.logic.celcheck import check_static
from switchyard.logic.dag import Dag, DagNode
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.features import Defer, Expand, RunView, Settle
from switchyard.logic.when import result_value
from switchyard.models.workflow import MAX_FOREACH_ITEMS, ForEach, NodeSpec

NAME = "forEach"
INSTANCE = re.compile(r"^(?P<node>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\[(?P<index>\d+)\]$")
INDEX_BASE = 100_000  # an instance's index in Job names: (node's index + 1) * INDEX_BASE + i (> MAX_NODES)
MAX_MOUNTED_INSTANCES = 1_000  # a fan-in Pod mounts the first this many instance outputs as files (all in results.json)


def instance_name(node: str, index: int) -> str:
    return f"{node}[{index}]"


def parse_instance(name: str) -> tuple[str, int] | None:
    """(forEach node, index) of an instance name `NODE[i]`, else None."""
    found = INSTANCE.match(name)
    return None if found is None else (found["node"], int(found["index"]))


def output_key(node: str) -> str:
    """The outputs ConfigMap key of a node's output: its name, `NODE.i` for an instance (no brackets in keys)."""
    parsed = parse_instance(node)
    return node if parsed is None else f"{parsed[0]}.{parsed[1]}"


def node_of_key(key: str) -> str:
    """The node of an outputs key or node label (`output_key`): `NODE.i` is instance `NODE[i]`."""
    node, dot, index = key.rpartition(".")
    return f"{node}[{index}]" if dot and index.isdigit() else key


def item_key(node: str, index: int) -> str:
    """The outputs ConfigMap key of instance `index`'s item (JSON text)."""
    return f"{node}.{index}.item"


def check_for_each(dag: Dag, parallelism: int) -> None:
    """Raise InvalidSpec("InvalidForEach") for the first node (DAG order) whose `forEach` cannot work."""
    for name in dag.order:
        spec = dag.nodes[name].for_each
        if spec is None:
            continue
        if spec.from_node is not None and spec.from_node not in dag.deps[name]:
            deps = ", ".join(dag.deps[name]) or "none"
            message = f"node {name!r}: forEach.fromNode {spec.from_node!r} is not one of its dependsOn ({deps})"
            raise InvalidSpec("InvalidForEach", message)
        if spec.items is not None and len(spec.items) > MAX_FOREACH_ITEMS:
            message = f"node {name!r}: forEach.items has {len(spec.items)} elements; at most {MAX_FOREACH_ITEMS}"
            raise InvalidSpec("InvalidForEach", message)
        if spec.max_parallel is not None and spec.max_parallel > parallelism:
            message = (
                f"node {name!r}: forEach.maxParallel {spec.max_parallel} is more than the Workflow's "
                f"parallelism {parallelism}"
            )
            raise InvalidSpec("InvalidForEach", message)
        if spec.expression is not None and (problem := check_expression(spec.expression, dag.deps[name])):
            raise InvalidSpec("InvalidForEach", f"node {name!r}: forEach.expression: {problem}")


def check_expression(expression: str, deps: tuple[str, ...]) -> str | None:
    """None when a `forEach.expression` compiles and passes the static checks (as `when`, yielding a list)."""
    try:
        cel.compile(expression)
    except Exception as error:  # the library raises ValueError; any failure means the expression is invalid
        return f"CEL compile error: {error}"
    problem = check_static(expression, frozenset(deps), yields="list")
    return None if problem is None else f"CEL check error: {problem}"


def list_value(value: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    """An expression's value as forEach items: (items, None), or (None, why not)."""
    if not isinstance(value, list):
        return None, f"forEach.expression: expected a list, got {type(value).__name__}"
    if len(value) > MAX_FOREACH_ITEMS:
        return None, f"forEach.expression: {len(value)} elements; at most {MAX_FOREACH_ITEMS}"
    return tuple(value), None


def output_slots(dag: Dag) -> int:
    """How many outputs a run may store: its nodes, plus an item and a result per possible instance (inline
    items: their count; a list known only at run time: the most allowed). Sizes the outputs ConfigMaps."""
    return slots_of(list(dag.nodes.values()))


def slots_of(nodes: Sequence[DagNode | NodeSpec]) -> int:
    """`output_slots` of a DAG's nodes (with its exit nodes): also of a finished run's spec (`spec.reuse`)."""
    slots = len(nodes)
    for node in nodes:
        if node.for_each is not None:
            items = node.for_each.items
            slots += 2 * (len(items) if items is not None else MAX_FOREACH_ITEMS)
    return slots


def reusable_instances(
    node: str,
    spec: ForEach,
    phases: Mapping[str, str],
    outputs: Mapping[str, str],
    *,
    sources_reused: bool,
) -> list[int]:
    """`spec.reuse` of a forEach node that is not reused whole: the indices of the old run's instances whose
    output a new run takes as its own (they do not run again). An instance qualifies when it succeeded (or fell
    back), its output is still stored, and its item is the one the new run will give it: inline `items` are
    compared element by element with the old item; items computed at run time (`fromNode`, `expression`) are
    the same when the dependencies they are computed from are reused (`sources_reused`).
    `phases`: the old run's node phases; `outputs`: its outputs ConfigMaps' content."""
    found: list[int] = []
    for key in outputs:
        parsed = _instance_of_key(node, key)
        if parsed is None or phases.get(instance_name(node, parsed)) not in ("Succeeded", "FellBack"):
            continue
        if spec.items is not None:
            old_item = outputs.get(item_key(node, parsed))
            if parsed >= len(spec.items) or old_item != json.dumps(spec.items[parsed], separators=(",", ":")):
                continue
        elif not sources_reused:
            continue
        found.append(parsed)
    return sorted(found)


def _instance_of_key(node: str, key: str) -> int | None:
    """The index of `node`'s instance whose output is at outputs key `key` (`NODE.i`), else None."""
    head, dot, index = key.rpartition(".")
    return int(index) if dot and head == node and index.isdigit() else None


@dataclass(frozen=True)
class ItemsFact:
    """What the observe half found for a ready forEach node: its items, or why there are none; and the full
    outputs of instances a restart found already Succeeded (index -> output)."""

    items: tuple[Any, ...] | None
    error: str | None = None
    outputs: Mapping[int, str] = field(default_factory=dict)
    artifacts: bool = False  # the items are the `fromNode` dependency's output artifacts (`artifact_items`)


def items_of(output: str | None, source: str) -> tuple[tuple[Any, ...] | None, str | None]:
    """A dependency's result as forEach items: (items, None), or (None, why it is not a list)."""
    value = result_value(output)
    if not isinstance(value, list):
        kind = "nothing" if value is None else type(value).__name__
        return None, f"forEach.fromNode {source!r}: its result is not a JSON list (got {kind})"
    if len(value) > MAX_FOREACH_ITEMS:
        return None, f"forEach.fromNode {source!r}: its result has {len(value)} elements; at most {MAX_FOREACH_ITEMS}"
    return tuple(value), None


ARTIFACT_FIELDS = ("name", "key", "size", "digest")


def artifact_items(
    refs: Sequence[Mapping[str, Any]], source: str
) -> tuple[tuple[dict[str, Any], ...] | None, str | None]:
    """A dependency's output artifacts (as its manifest lists them) as forEach items, one per artifact in name
    order: `{"name", "key", "size", "digest"}`, the JSON at `/switchyard/item` (the bytes are staged at
    `/switchyard/item.data`). (None, why) beyond MAX_FOREACH_ITEMS."""
    if len(refs) > MAX_FOREACH_ITEMS:
        return None, f"forEach.fromNode {source!r}: it has {len(refs)} output artifacts; at most {MAX_FOREACH_ITEMS}"
    items = tuple({name: ref[name] for name in ARTIFACT_FIELDS} for ref in refs)
    return tuple(sorted(items, key=lambda item: str(item["name"]))), None


def is_artifact_item(item: object) -> TypeGuard[dict[str, Any]]:
    """Whether an item (of a fan-out with `Expand.data`) describes an artifact stage-in can fetch and check."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and isinstance(item.get("size"), int)
        and isinstance(item.get("digest"), str)
    )


class ForEachFeature:
    """The decide half of `forEach` (a `logic.features.NodeFeature`)."""

    name = NAME

    def applies(self, node: DagNode) -> bool:
        return node.for_each is not None

    def decide(self, node: str, run: RunView, facts: Mapping[str, object], now: datetime) -> Settle | Defer | Expand:
        spec = run.spec_of(node).for_each
        assert spec is not None
        if spec.items is not None and not run.recorded_instances(node):
            return Expand(tuple(spec.items))
        if node not in facts:
            return Defer()
        fact = facts[node]
        if not isinstance(fact, ItemsFact):
            return Settle("Failed", "ForEachItems", "forEach items could not be read", event="Warning")
        if fact.items is None:
            return Settle("Failed", "ForEachItems", fact.error or "no items", event="Warning")
        items = tuple(spec.items) if spec.items is not None else fact.items
        return Expand(items, fact.outputs, data=fact.artifacts and spec.items is None)


def shortfall(node: str, succeeded: int, total: int, ratio: float, *, held: bool = True) -> str:
    """What a forEach node whose instances did not all succeed says: `18/20 instances of process succeeded
    (minSuccessRatio 0.9)` when the ratio held, `... succeeded, below minSuccessRatio 1` when it did not."""
    text = f"{succeeded}/{total} instances of {node} succeeded"
    return f"{text} (minSuccessRatio {ratio:g})" if held else f"{text}, below minSuccessRatio {ratio:g}"


@dataclass
class FanOut:
    """A running forEach node's instances: those not started yet, how many run, how they ended."""

    total: int
    max_parallel: int
    min_success_ratio: float
    waiting: deque[str] = field(default_factory=deque)
    active: int = 0
    succeeded: int = 0
    ended: int = 0
    outputs: dict[int, str] = field(default_factory=dict)  # index -> full output of a succeeded instance

    @property
    def progress(self) -> str:
        return f"{self.succeeded}/{self.total}"

    def release(self) -> list[str]:
        """The waiting instances that may start now (within maxParallel)."""
        started: list[str] = []
        while self.waiting and self.active < self.max_parallel:
            started.append(self.waiting.popleft())
            self.active += 1
        return started

    def verdict(self, node: str) -> tuple[bool, str]:
        """(succeeded, message) once every instance ended."""
        ratio = self.succeeded / self.total if self.total else 1.0
        ok = ratio >= self.min_success_ratio
        if self.succeeded == self.total:
            return ok, f"all {self.total} instances succeeded"
        return ok, shortfall(node, self.succeeded, self.total, self.min_success_ratio, held=ok)

    def results_json(self) -> str:
        """`results.json`: each instance's result (parsed JSON, else the text; null when it did not succeed)."""
        return json.dumps([result_value(self.outputs.get(i)) for i in range(self.total)], separators=(",", ":"))


__all__ = [
    "ARTIFACT_FIELDS",
    "INDEX_BASE",
    "MAX_MOUNTED_INSTANCES",
    "NAME",
    "FanOut",
    "ForEachFeature",
    "ItemsFact",
    "artifact_items",
    "check_expression",
    "check_for_each",
    "instance_name",
    "is_artifact_item",
    "item_key",
    "items_of",
    "list_value",
    "node_of_key",
    "output_key",
    "output_slots",
    "parse_instance",
    "reusable_instances",
    "shortfall",
    "slots_of",
]
