"""Component `status.stats` across an operator SIGKILL: the restarted operator continues the persisted window."""

from __future__ import annotations

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for
from tests.emulated.test_component_stats import fan, stats_of
from tests.emulated.test_reliability import namespace, own_operator

pytestmark = pytest.mark.emulated
__all__ = ["namespace", "own_operator"]  # the fixtures: an operator of this test alone, in its own namespace


def test_a_restarted_operator_continues_the_window(
    kube: Kube, sim: JobSimulator, own_operator: OperatorProcess
) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=not (job.node or "").startswith("bad"), delay=1.0)
    kube.create("Workflow", "w1", fan("proc", ["a", "b", "bad"]))
    kube.wait_phase("w1", "Failed", timeout=30)
    wait_for(lambda: stats_of(kube, "proc").get("runs") == 3, 15, what="3 runs counted")
    own_operator.kill()
    own_operator.start()
    own_operator.wait_ready()
    kube.create("Workflow", "w2", fan("proc", ["c", "d"]))
    kube.wait_phase("w2", "Succeeded", timeout=30)
    stats = wait_for(lambda: (s := stats_of(kube, "proc")).get("runs") == 5 and s, 15, what="5 runs counted")
    assert stats["failures"] == 1 and stats["failureRate"] == 0.2
    assert len(stats["window"]["outcomes"]) == 5 and len(stats["window"]["seconds"]) == 4
