"""The lean kopf storages give kopf the same essences as its stock ones, without copying status."""

from __future__ import annotations

import copy
import json
from typing import Any

import kopf
import pytest
from kopf._cogs.structs import bodies

from switchyard.handlers.persistence import LeanDiffBaseStorage, LeanProgressStorage, essence_needed


class NoCopy:
    """A value that must never be deep-copied."""

    def __deepcopy__(self, memo: dict[int, Any]) -> NoCopy:
        raise AssertionError("deep-copied a part of the body kopf throws away")


def workflow(status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "42",
            "labels": {"example.com/shard": "a"},
            "annotations": {
                "kopf.zalando.org/last-handled-configuration": json.dumps({"spec": {"x": 1}}),
                "kopf.zalando.org/run_workflow": json.dumps({"started": "2026-01-01T00:00:00"}),
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "data",
            },
            "finalizers": ["switchyard.dev/finalizer"],
            "managedFields": [{"manager": "x", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"nodes": [{"name": f"n{i}", "component": "c", "dependsOn": []} for i in range(5)]},
        "status": status,
    }


STATUSES = [
    {"phase": "Running", "nodes": {"n0": {"phase": "Succeeded"}}, "kopf": {"progress": {"h": {"retries": 1}}}},
    {},
    None,
]


@pytest.mark.parametrize("status", STATUSES)
def test_essence_and_cleared_essence_equal_kopfs_own(status: Any) -> None:
    raw = workflow(status)
    if status is None:
        del raw["status"]
    stock_diff, lean_diff = kopf.AnnotationsDiffBaseStorage(), LeanDiffBaseStorage()
    stock_progress, lean_progress = kopf.SmartProgressStorage(), LeanProgressStorage()
    stock = stock_diff.build(body=bodies.Body(copy.deepcopy(raw)))
    lean = lean_diff.build(body=bodies.Body(copy.deepcopy(raw)))
    assert lean == stock
    assert list(lean) == list(stock)  # same key order: the stored annotation would be byte-identical
    assert lean_progress.clear(essence=copy.deepcopy(lean)) == stock_progress.clear(essence=copy.deepcopy(stock))
    fetched = {"spec": raw["spec"], "status": {"kopf": {"progress": {}}, "phase": "x"}}
    assert lean_progress.clear(essence=copy.deepcopy(fetched)) == stock_progress.clear(essence=copy.deepcopy(fetched))


def test_status_and_managed_fields_are_never_copied() -> None:
    raw = workflow({"phase": "Running", "nodes": NoCopy()})
    raw["metadata"]["managedFields"] = [NoCopy()]
    with pytest.raises(AssertionError):
        kopf.AnnotationsDiffBaseStorage().build(body=bodies.Body(raw))  # the stock one copies them
    essence = LeanDiffBaseStorage().build(body=bodies.Body(raw))
    assert essence["spec"] == raw["spec"] and essence["spec"] is not raw["spec"]


def test_clear_does_not_copy_the_spec_and_does_not_change_its_input() -> None:
    essence: dict[str, Any] = {"spec": {"big": NoCopy()}, "status": {"kopf": {"progress": {"h": {}}}}}
    cleared = LeanProgressStorage().clear(essence=essence)  # type: ignore[arg-type]
    assert cleared["spec"] is essence["spec"]
    assert "status" not in cleared
    assert essence["status"] == {"kopf": {"progress": {"h": {}}}}


def test_no_essence_is_built_while_no_handler_reads_one() -> None:
    """Issue 10.3: only change handlers and idle daemons read essences; this operator registers none."""
    from switchyard.config import Options
    from switchyard.handlers import register
    from switchyard.kopfcompat import Insights

    registry = kopf.OperatorRegistry()
    register(registry, Options(), Insights())  # every handler of the operator
    assert registry._spawning.get_all_handlers(), "the registry is the operator's (its daemon is there)"
    assert not essence_needed(registry)
    storage = LeanDiffBaseStorage(needed=False)
    raw = workflow({"phase": "Running", "nodes": NoCopy()})
    raw["spec"] = {"nodes": [NoCopy()]}
    assert storage.build(body=bodies.Body(raw)) == {} and storage.fetch(body=bodies.Body(raw)) is None

    @kopf.on.update("example.com", "v1", "things", registry=registry)
    def changed(**_: Any) -> None: ...

    try:
        assert essence_needed(registry)  # a change handler would get kopf's essence again
    finally:
        registry._changing._handlers.clear()
