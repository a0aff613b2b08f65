"""`maxConcurrentRuns` across an operator SIGKILL: the restarted operator counts the Job still running from the
cluster, keeps the waiters' order (their readyAt is in status), and runs each node once."""

from __future__ import annotations

import collections

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for
from tests.emulated.test_component_slots import most_at_once, workflow
from tests.emulated.test_reliability import namespace, own_operator

pytestmark = pytest.mark.emulated
__all__ = ["namespace", "own_operator"]  # the fixtures: an operator of this test alone, in its own namespace
NAMES = ("first", "second", "third")


def test_sigkill_while_one_runs_and_two_wait(kube: Kube, sim: JobSimulator, own_operator: OperatorProcess) -> None:
    kube.component("single", maxConcurrentRuns=1)
    sim.rule = lambda job: Outcome(delay=3.0)
    for name in NAMES:
        kube.create("Workflow", name, workflow("single"))
        wait_for(lambda n=name: kube.status("Workflow", n).get("nodes"), 10, what=f"{name} started")

    def reasons() -> list[str | None]:
        return [kube.status("Workflow", n).get("nodes", {}).get("work", {}).get("reason") for n in NAMES]

    wait_for(lambda: reasons().count("WaitingForComponent") == 2, 15, what="two nodes waiting")
    wait_for(lambda: len([s for s in sim.started if s.namespace == kube.namespace]) == 1, 10, what="one Job running")
    before = {n: kube.status("Workflow", n)["nodes"]["work"].get("readyAt") for n in NAMES}
    own_operator.kill()
    own_operator.start()
    own_operator.wait_ready()
    for name in NAMES:
        kube.wait_phase(name, "Succeeded", timeout=45)
    assert most_at_once(sim, kube.namespace) == 1
    started = [s.job for s in sim.started if s.namespace == kube.namespace]
    assert len(started) == len(set(started)) == 3, started  # each node's Job ran once
    per_workflow = collections.Counter(j.metadata.labels["switchyard.dev/workflow"] for j in kube.jobs())
    assert per_workflow == dict.fromkeys(NAMES, 1), per_workflow
    assert [job.split("-")[0] for job in started] == list(NAMES), "first come, first served across the restart"
    assert all(before[n] for n in NAMES[1:])
    wait_for(
        lambda: (s := kube.status("Component", "single")).get("running") == 0 and s.get("waiting") == 0,
        10,
        what="Component status running 0, waiting 0",
    )
