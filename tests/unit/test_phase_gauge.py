"""The `switchyard_workflows` gauge: Workflows by namespace and phase, as records and forgets move them."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from switchyard import metrics


def shown(namespace: str) -> dict[str, float | None]:
    return {
        phase: REGISTRY.get_sample_value("switchyard_workflows", {"namespace": namespace, "phase": phase})
        for phase in metrics.PHASES
    }


def test_records_move_workflows_between_phases_and_forget_drops_them() -> None:
    gauge = metrics.WORKFLOW_PHASE
    ns, other = f"ns-{uuid.uuid4().hex[:6]}", f"ns-{uuid.uuid4().hex[:6]}"
    gauge.record(ns, "a", "Pending")
    assert shown(ns) == {"Pending": 1, "Running": 0, "Succeeded": 0, "Failed": 0, "Invalid": 0}
    gauge.record(ns, "a", "Running")
    gauge.record(ns, "a", "Running")  # the same phase again: counted once
    gauge.record(ns, "b", "Running")
    gauge.record(other, "a", "Failed")  # a namesake in another namespace is another Workflow
    assert shown(ns) == {"Pending": 0, "Running": 2, "Succeeded": 0, "Failed": 0, "Invalid": 0}
    gauge.record(ns, "a", "Succeeded")
    gauge.forget(ns, "b")
    gauge.forget(ns, "never-seen")
    assert shown(ns) == {"Pending": 0, "Running": 0, "Succeeded": 1, "Failed": 0, "Invalid": 0}
    assert shown(other)["Failed"] == 1 and shown(other)["Running"] == 0
    gauge.forget(ns, "a")
    assert set(shown(ns).values()) == {0}
