"""The job simulator's executor seam: a Pod's containers run by whatever executor it is given, the Job and Pod
bookkeeping staying the simulator's."""

from __future__ import annotations

import pathlib
import threading
from typing import Any

import kubernetes
import pytest
from tests.emulator.test_jobsim import conditions, ended, job_body, k8s, namespace, pods_of

from switchyard.sandbox.executor import Host, SimulatedExecutor
from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.simbase import Run
from switchyard.sandbox.waiting import wait_for

__all__ = ["k8s", "namespace"]  # fixtures shared with test_jobsim

pytestmark = pytest.mark.emulated


class Recording(SimulatedExecutor):
    """Decides each Pod's outcome itself (exit 3 for node "fails", held until released for node "held") and
    records what the simulator asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.stopped = False

    def start(self, host: Host) -> None:
        self.calls.append(("start", ""))
        super().start(host)

    def stop(self) -> None:
        self.stopped = True
        self.release.set()

    def running_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("running", run.job.name))
        return {**status, "message": "run by the test's executor"}

    def launch(self, run: Run, deadline: float | None) -> None:
        self.calls.append(("launch", run.job.name))
        host = self.host

        def end() -> None:
            if run.job.node == "held":
                self.release.wait(timeout=10)
                return  # cancelled: never finished
            run.outcome = Outcome(succeed=False, exit_code=3, message="decided by the executor")
            host.finish(run, deadline_exceeded=False)

        threading.Thread(target=end, daemon=True).start()

    def cancel(self, run: Run) -> None:
        self.calls.append(("cancel", run.job.name))
        self.release.set()

    def final_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        return {**status, "message": "ended by the test's executor"}

    @property
    def host(self) -> Host:
        assert self._host is not None
        return self._host


def test_the_executor_runs_the_pod_and_the_simulator_keeps_the_books(
    kubeconfig: pathlib.Path, k8s: kubernetes.client.ApiClient, namespace: str
) -> None:
    executor = Recording()
    batch = kubernetes.client.BatchV1Api(k8s)
    with JobSimulator(kubeconfig, namespace=namespace, executor=executor) as sim:
        assert executor.calls == [("start", "")]
        batch.create_namespaced_job(namespace, job_body("by-executor", "fails"))
        status = ended(k8s, namespace, "by-executor")
        assert conditions(status)["Failed"] == ("True", "BackoffLimitExceeded")
        [pod] = pods_of(k8s, namespace, "by-executor")
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["message"]) == (3, "decided by the executor")
        assert pod["status"]["message"] == "ended by the test's executor"
        assert [c for c in executor.calls if c[1] == "by-executor"] == [
            ("running", "by-executor"),
            ("launch", "by-executor"),
        ]

        batch.create_namespaced_job(namespace, job_body("held", "held"))
        wait_for(lambda: ("launch", "held") in executor.calls, timeout=10)
        [running] = pods_of(k8s, namespace, "held")
        assert running["status"]["message"] == "run by the test's executor"
        batch.delete_namespaced_job("held", namespace)
        wait_for(lambda: ("cancel", "held") in executor.calls, timeout=10)
        assert sim.deleted == ["held"] and not sim.errors
    assert executor.stopped
