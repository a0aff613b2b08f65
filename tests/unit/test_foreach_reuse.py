"""`spec.reuse` of a forEach node (`logic.foreach.reusable_instances`) and a run that starts from reused
instances with gaps (the failed ones left out): only those run, every result lands in index order."""

from __future__ import annotations

import json

from tests.unit.test_foreach import COMPONENTS, run_of, spec
from tests.unit.test_scheduler import T0, launched, ok

from switchyard.logic.foreach import ItemsFact, item_key, reusable_instances
from switchyard.logic.scheduler import BreakerBook
from switchyard.models.workflow import ForEach, NodeStatus


def item(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_reusable_instances_need_success_an_output_and_the_same_item() -> None:
    phases = {"map[0]": "Succeeded", "map[1]": "Failed", "map[2]": "Succeeded", "map[3]": "FellBack"}
    outputs = {"map": "[]", "map.0": "A", "map.2": "C", "map.3": "D", "other.0": "x"}
    outputs |= {item_key("map", i): item(v) for i, v in enumerate(["a", "b", "c", "d"])}
    inline = ForEach.model_validate({"items": ["a", "b", "CHANGED", "d"]})
    assert reusable_instances("map", inline, phases, outputs, sources_reused=False) == [0, 3]  # 2: another item
    from_node = ForEach.model_validate({"fromNode": "split"})
    assert reusable_instances("map", from_node, phases, outputs, sources_reused=True) == [0, 2, 3]
    assert reusable_instances("map", from_node, phases, outputs, sources_reused=False) == []  # items may differ
    del outputs["map.2"]  # its output is gone: it runs again
    assert reusable_instances("map", from_node, phases, outputs, sources_reused=True) == [0, 3]


def test_a_run_with_reused_instances_runs_only_the_others() -> None:
    reused = NodeStatus(phase="Succeeded", attempts=0, reason="Reused")
    recorded = {"split": reused, **{f"map[{i}]": reused for i in (0, 1, 2, 4)}}  # 3 failed before: a gap
    run, book = run_of(spec({"items": ["a", "b", "c", "d", "e"]}), recorded), BreakerBook()
    plan = run.step({}, COMPONENTS, book, T0)
    assert plan.wanted == {"forEach": {"map"}}  # the reused outputs are read first
    outputs = {0: "A", 1: "B", 2: "C", 4: "E"}
    plan = run.step(
        {}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact(("a", "b", "c", "d", "e"), None, outputs)}}
    )
    assert launched(plan) == ["map[3]"]
    assert run.nodes["map"].progress == "4/5"
    plan = run.step({"map[3]": ok(run, "map[3]", "D")}, COMPONENTS, book, T0)
    assert json.loads(plan.outputs["map"]) == ["A", "B", "C", "D", "E"] and launched(plan) == ["merge"]
    assert run.fan_in_of("merge") == {"map": (0, 1, 2, 3, 4)}
