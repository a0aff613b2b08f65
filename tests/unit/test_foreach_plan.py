"""Critical-path planning counts a forEach node's instances: its weight is the estimate x count / maxParallel
(`logic.priority.fan_out_weight`), so a wide fan-out on the critical path starts before a short chain."""

from __future__ import annotations

from typing import Any

from switchyard.logic.dag import Dag
from switchyard.logic.plan import plan_keys
from switchyard.logic.priority import bottom_levels, fan_out_weight, node_runtimes
from switchyard.models.workflow import ForEach, NodeSpec


def node(
    name: str, component: str = "c", deps: tuple[str, ...] = (), for_each: dict[str, Any] | None = None
) -> NodeSpec:
    return NodeSpec(
        name=name,
        component=component,
        depends_on=list(deps),
        for_each=ForEach.model_validate(for_each) if for_each is not None else None,
    )


def test_fan_out_weight() -> None:
    assert fan_out_weight(2.0, 20, 5) == 8.0  # 2 s x 20 / 5
    assert fan_out_weight(2.0, 3, 5) == 2.0  # fewer than maxParallel: one wave, one instance's time
    assert fan_out_weight(2.0, 0, 5) == 0.0  # an empty list ends at once
    assert fan_out_weight(2.0, None, 5) == 2.0  # a count known only at run time: one wave
    assert fan_out_weight(2.0, 20, None) == 2.0


def test_node_runtimes_count_instances_within_max_parallel_and_parallelism() -> None:
    dag = Dag.build(
        [
            node("split"),
            node("map", "m", ("split",), {"items": list(range(40)), "maxParallel": 4}),
            node("wide", "m", ("split",), {"items": list(range(40))}),  # maxParallel: the parallelism
            node("later", "m", ("split",), {"fromNode": "split"}),
        ]
    )
    runtimes = node_runtimes(dag, {"c": 1.0, "m": 3.0}, parallelism=8)
    assert runtimes == {"split": 1.0, "map": 30.0, "wide": 15.0, "later": 3.0}
    assert bottom_levels(dag, runtimes)["split"] == 31.0
    assert node_runtimes(dag, {"m": 3.0}, parallelism=2)["map"] == 60.0  # parallelism below maxParallel binds


def test_a_wide_fan_out_starts_before_a_short_chain() -> None:
    nodes = [
        node("a"),
        node("b", deps=("a",)),
        node("c", deps=("b",)),
        node("fan", for_each={"items": list(range(40))}),
    ]
    dag = Dag.build(nodes)
    keys = plan_keys(dag, node_runtimes(dag, None, parallelism=1), parallelism=1)
    assert keys["fan"] < keys["a"]  # 40 instances one at a time (40 s) against a 3 s chain
    uncounted = plan_keys(dag, node_runtimes(dag, None), parallelism=1)  # (as before: the node weighed 1 s)
    assert uncounted["a"] < uncounted["fan"]
