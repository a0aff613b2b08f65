"""Leader election (issue 7 item 18): two operators on one namespace, one Lease; only the holder acts.

Each test runs its own operators in an `l-…` namespace no other operator watches, with a Lease of its own
(name and namespace per test), so the session operator and other tests never wait on it.
"""

from __future__ import annotations

import collections
import pathlib
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

DURATION, RENEW = 8, 2  # shorter than the 15 s / 5 s defaults to keep the test quick; same code path


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    return new_namespace(kubeconfig, "l")


@pytest.fixture
def leases(kubeconfig: pathlib.Path) -> Any:
    return kubernetes.client.CoordinationV1Api(kubernetes.config.new_client_from_config(config_file=str(kubeconfig)))


@pytest.fixture
def start(kubeconfig: pathlib.Path, namespace: str, tmp_path: pathlib.Path) -> Iterator[Any]:
    started: list[OperatorProcess] = []

    def start_operator(identity: str) -> OperatorProcess:
        args = ("--leader-election", "--lease-name", "switchyard-test", "--lease-namespace", namespace)
        args += ("--lease-identity", identity, "--lease-duration", str(DURATION), "--lease-renew", str(RENEW))
        proc = OperatorProcess(kubeconfig, tmp_path / f"{identity}.log", namespaces=(namespace,), extra_args=args)
        started.append(proc.start())
        return proc

    yield start_operator
    for proc in started:
        proc.stop()


def holder(leases: Any, namespace: str) -> str | None:
    return leases.read_namespaced_lease("switchyard-test", namespace).spec.holder_identity  # type: ignore[no-any-return]


def serving(proc: OperatorProcess) -> bool:
    """Whether kopf (and its startup handler, which opens the metrics port) runs in this process."""
    try:
        with socket.create_connection(("127.0.0.1", proc.metrics_port), timeout=0.5):
            return True
    except OSError:
        return False


def jobs_per_node(kube: Kube, workflow: str) -> collections.Counter[str]:
    return collections.Counter(
        j.metadata.labels["switchyard.dev/node"]
        for j in kube.jobs()
        if j.metadata.labels.get("switchyard.dev/workflow") == workflow
    )


def diamond() -> list[dict[str, Any]]:
    return [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
        {"name": "c", "component": "proc", "dependsOn": ["a"]},
        {"name": "d", "component": "proc", "dependsOn": ["b", "c"]},
    ]


def run_workflow(kube: Kube, name: str) -> None:
    kube.create("Workflow", name, {"input": {"data": "x"}, "nodes": diamond()})
    status = kube.wait_phase(name, "Succeeded", "Failed", "Invalid", timeout=60)
    assert status["phase"] == "Succeeded", status
    assert jobs_per_node(kube, name) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_second_replica_waits_and_takes_over_after_sigkill(
    kubeconfig: pathlib.Path, namespace: str, start: Any, leases: Any, sim: JobSimulator
) -> None:
    kube = Kube(kubeconfig, namespace)
    a = start("operator-a")
    a.wait_ready(timeout=60)
    assert holder(leases, namespace) == "operator-a"
    b = start("operator-b")
    wait_for(
        lambda: f"waiting for leader lease {namespace}/switchyard-test held by operator-a" in b.log(),
        30,
        what="B logs that it waits",
    )

    kube.component("proc")
    run_workflow(kube, "first")
    assert b.alive and not serving(b), "the standby replica must not run kopf"
    assert "acquired leader lease" not in b.log()
    assert holder(leases, namespace) == "operator-a"

    a.kill()
    killed = time.monotonic()
    wait_for(lambda: holder(leases, namespace) == "operator-b", DURATION + 20, what="B takes the lease over")
    took = time.monotonic() - killed
    print(f"takeover after SIGKILL: {took:.1f}s (lease duration {DURATION}s, renew {RENEW}s)")
    # B waits one lease duration from the last renewal it saw (<= RENEW before the kill), plus its retry step.
    assert took <= DURATION + RENEW + 6, f"takeover took {took:.1f}s"
    b.wait_ready(timeout=60)
    run_workflow(kube, "second")
    assert jobs_per_node(kube, "first") == {"a": 1, "b": 1, "c": 1, "d": 1}, "nothing re-run by the new leader"


def test_clean_shutdown_releases_the_lease_at_once(namespace: str, start: Any, leases: Any) -> None:
    a = start("operator-a")
    a.wait_ready(timeout=60)
    b = start("operator-b")
    wait_for(lambda: "waiting for leader lease" in b.log(), 30, what="B waits")
    a.stop()
    assert a.proc is not None and a.proc.returncode == 0
    assert "released leader lease" in a.log()
    stopped = time.monotonic()
    wait_for(lambda: holder(leases, namespace) == "operator-b", DURATION, what="B takes the released lease")
    took = time.monotonic() - stopped
    print(f"takeover after a clean stop: {took:.1f}s")
    assert took < DURATION - 2, "a released lease is taken without waiting for expiry"
    b.wait_ready(timeout=60)


def test_a_leader_that_loses_its_lease_exits_at_once(namespace: str, start: Any, leases: Any) -> None:
    a = start("operator-a")
    a.wait_ready(timeout=60)
    lease = leases.read_namespaced_lease("switchyard-test", namespace)
    lease.spec.holder_identity = "intruder"
    leases.replace_namespaced_lease("switchyard-test", namespace, lease)
    taken = time.monotonic()
    wait_for(lambda: not a.alive, RENEW + 10, what="the old leader exits")
    assert time.monotonic() - taken <= RENEW + 5
    assert a.proc is not None and a.proc.returncode != 0
    assert re.search(r"leader lease .*switchyard-test is now held by intruder; exiting", a.log())
