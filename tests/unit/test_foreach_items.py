"""forEach items from a dependency's output artifacts (`logic.foreach.artifact_items`): one per artifact in name
order, the engine knows which artifact each instance stages at `item.data`, and the stage-in arguments."""

from __future__ import annotations

from tests.unit.test_foreach import COMPONENTS, run_of, spec
from tests.unit.test_scheduler import T0, launched, ok

from switchyard.logic.foreach import ForEachFeature, ItemsFact, artifact_items
from switchyard.logic.scheduler import BreakerBook
from switchyard.models.workflow import MAX_FOREACH_ITEMS

REFS = [
    {"name": f"chunk-{i:05d}", "key": f"p/chunk-{i:05d}", "size": 10 + i, "digest": f"sha256:{i:064x}", "x": 1}
    for i in (1, 0, 2)
]


def test_artifact_items_are_name_key_size_digest_in_name_order() -> None:
    items, problem = artifact_items(REFS, "chunk")
    assert problem is None and items is not None
    assert [i["name"] for i in items] == ["chunk-00000", "chunk-00001", "chunk-00002"]
    assert items[0] == {"name": "chunk-00000", "key": "p/chunk-00000", "size": 10, "digest": "sha256:" + "0" * 64}
    too_many = [REFS[0]] * (MAX_FOREACH_ITEMS + 1)
    assert artifact_items(too_many, "chunk") == (
        None,
        f"forEach.fromNode 'chunk': it has {MAX_FOREACH_ITEMS + 1} output artifacts; at most {MAX_FOREACH_ITEMS}",
    )


def test_instances_of_an_artifact_fan_out_know_their_artifact() -> None:
    run, book = run_of(spec({"fromNode": "split"})), BreakerBook()
    run.step({}, COMPONENTS, book, T0)
    run.step({"split": ok(run, "split", '{"chunks": 3}')}, COMPONENTS, book, T0)
    items, _ = artifact_items(REFS, "split")
    plan = run.step({}, COMPONENTS, book, T0, facts={"forEach": {"map": ItemsFact(items, None, {}, artifacts=True)}})
    assert launched(plan) == ["map[0]", "map[1]", "map[2]"]
    assert items is not None and run.item_artifact("map[1]") == items[1]
    assert run.item_artifact("split") is None
    plain = run_of(spec({"items": [{"key": "k", "size": 1, "digest": "d"}]}))  # inline items are never staged
    plain.step({}, COMPONENTS, book, T0)
    plain.step({"split": ok(plain, "split")}, COMPONENTS, book, T0)
    assert plain.item_artifact("map[0]") is None
    assert ForEachFeature().name == "forEach"


def test_stage_in_gets_the_item_artifact() -> None:
    from switchyard.artifacts.store import StoreSpec
    from switchyard.k8s.staging import Staging, stage_in_args

    store = StoreSpec.model_validate({"endpoint": "s3:9000", "bucket": "bucket", "credentialsSecretRef": {"name": "s"}})
    staging = Staging(store, "img", "uid", "p/", item_data={"key": "p/c", "size": 4, "digest": "sha256:ab"})
    args = stage_in_args(staging)
    assert args[-6:] == ["--item-data", "p/c", "--item-size", "4", "--item-digest", "sha256:ab"]
    assert "--item-data" not in stage_in_args(Staging(store, "img", "uid", "p/"))


def test_instances_beyond_what_the_status_holds_fail_the_node() -> None:
    from switchyard.logic.dag import Dag
    from switchyard.models.workflow import MAX_STATUS_NODES, ForEach, NodeSpec

    many = ForEach.model_validate({"items": list(range(MAX_FOREACH_ITEMS))})
    nodes = [NodeSpec(name="a", component="c", for_each=many), NodeSpec(name="b", component="c", for_each=many)]
    from switchyard.logic.scheduler import WorkflowRun

    run = WorkflowRun(
        "wf", Dag.build(nodes), {}, parallelism=10, failure_policy="ContinueOnFailure", started_at=T0,
        features=[ForEachFeature()],
    )  # fmt: skip
    plan = run.step({}, COMPONENTS, BreakerBook(), T0)
    assert run.nodes["a"].phase == "Running" and run.nodes["b"].phase == "Failed"
    assert run.nodes["b"].reason == "ForEachItems"
    assert run.nodes["b"].message == (
        f"forEach over {MAX_FOREACH_ITEMS} items: the Workflow would hold {2 + 2 * MAX_FOREACH_ITEMS} nodes and "
        f"instances; at most {MAX_STATUS_NODES}"
    )
    assert any(e[1] == "NodeFailed" for e in plan.events)
