"""`k8s.stats`: seeded from status, one patch with the breaker per flush, the reset Event, the metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from switchyard.k8s import breakers, stats
from switchyard.k8s.entries import component_entry
from switchyard.k8s.informer import Store
from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic.stats import record
from switchyard.models.component import CircuitBreakerPolicy
from switchyard.models.stats import ComponentStats

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CircuitBreakerPolicy()


class FakeApi:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any], **_: Any) -> None:
        self.patches.append((plural, namespace, name, status))


def body(name: str, generation: int, observed: int, persisted: ComponentStats | None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed}
    if persisted is not None:
        status["stats"] = persisted.model_dump(mode="json", by_alias=True)
    meta = {"name": name, "namespace": "ns", "uid": "u", "generation": generation}
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Component",
        "metadata": meta,
        "spec": {"image": "x:1"},
        "status": status,
    }


def sample(metric: str, component: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": "ns", "component": component, **labels})


def test_persisted_stats_continue_and_go_out_with_the_breaker_in_one_patch() -> None:
    api = FakeApi()
    rt = Runtime(api=api)  # type: ignore[arg-type]
    persisted = record(record(ComponentStats(), True, 4.0, T0), False, None, T0)
    entry = component_entry(body("seeded", 1, 1, persisted))
    breakers.seed(rt, "ns", {"seeded": entry}, T0)
    before = sample("switchyard_component_runs_total", "seeded") or 0.0
    for seconds in (2.0, 6.0):  # what the engine records for two Jobs that succeeded
        breakers.book(rt, "ns").success("seeded", POLICY, T0, "wf", "n")
        stats.book(rt, "ns").success("seeded", seconds, T0)
    asyncio.run(breakers.flush(rt, Views(components={}, jobs=Store(), pods=Store()), lambda *a: None))
    assert len(api.patches) == 1
    patch = api.patches[0][3]
    assert patch["runs"] == 2 and patch["breaker"]["state"] == "Closed"
    assert patch["stats"]["runs"] == 4 and patch["stats"]["window"] == {"outcomes": "SFSS", "seconds": [4.0, 2.0, 6.0]}
    assert patch["stats"]["duration"]["p50"] == 4.0
    assert sample("switchyard_component_runs_total", "seeded") == before + 2  # what this process counted
    assert sample("switchyard_component_duration_seconds", "seeded", quantile="0.5") == 4.0
    assert sample("switchyard_component_failure_rate", "seeded") == 0.25


def test_a_new_generation_resets_once_with_a_normal_event_and_nulls_the_old_duration() -> None:
    rt = Runtime(api=FakeApi())  # type: ignore[arg-type]
    persisted = record(ComponentStats(), True, 4.0, T0)
    events: list[tuple[str, str, str]] = []
    changed = component_entry(body("changed", 2, 1, persisted))
    stats.component_changed(rt, changed, lambda _body, type_, reason, message: events.append((type_, reason, message)))
    stats.component_changed(rt, changed, lambda *a: events.append(a))  # the same change seen twice
    assert events == [
        ("Normal", "StatisticsReset", "statistics reset for the new spec (generation 2): forgot 1 run (0 failed)")
    ]
    wire = stats.wire(rt, "ns", "changed")["stats"]
    assert wire["runs"] == 0 and wire["duration"] is None and wire["lastUpdated"] is None  # null: removed
    unchanged = component_entry(body("same", 1, 1, persisted))
    stats.component_changed(rt, unchanged, lambda *a: events.append(a))
    first = component_entry(body("new", 1, 0, None) | {"status": {}})
    stats.component_changed(rt, first, lambda *a: events.append(a))
    assert len(events) == 1
