"""Ready nodes beyond `parallelism` start longest estimated path first, with the estimates from Components."""

from __future__ import annotations

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for


def test_component_runtime_estimates_order_the_ready_nodes(
    kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    kube.component("quick", runtimeEstimateSeconds=1)
    kube.component("slow", runtimeEstimateSeconds=600)
    # Spec (FIFO) order would start `first` first; `heavy` is estimated far longer, so it goes first.
    nodes = [
        {"name": "first", "component": "quick"},
        {"name": "second", "component": "quick"},
        {"name": "heavy", "component": "slow"},
    ]
    kube.create("Workflow", "ordered", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 1})
    kube.wait_phase("ordered", "Succeeded", timeout=60)
    started = wait_for(
        lambda: (s := [x.node for x in sim.started if x.namespace == kube.namespace]) and len(s) == 3 and s,
        10,
        what="three Jobs started",
    )
    assert started == ["heavy", "first", "second"]
