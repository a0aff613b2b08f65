"""Black-holed API calls (the emulator's stall fault: a request accepted and never answered, as during a
control-plane upgrade): the operator's call times out, is retried, and the Workflow completes."""

from __future__ import annotations

import collections
import math
import pathlib
from collections.abc import Iterator

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

NODES = [
    {"name": "a", "component": "proc"},
    {"name": "b", "component": "proc", "dependsOn": ["a"]},
    {"name": "c", "component": "proc", "dependsOn": ["a"]},
]


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    """Outside the session operator's `t-*`: only this test's own operator acts here."""
    return new_namespace(kubeconfig, "s")


@pytest.fixture
def own_operator(kubeconfig: pathlib.Path, namespace: str, tmp_path: pathlib.Path) -> Iterator[OperatorProcess]:
    """An operator whose API calls give up on an answer after 2 s (the default is 60 s)."""
    proc = OperatorProcess(
        kubeconfig, tmp_path / "operator.log", namespaces=(namespace,), extra_args=("--api-timeout", "2")
    ).start()
    proc.wait_ready()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", r"jobs$"),
        ("PATCH", r"workflows/[^/]+/status$"),
        ("PATCH", r"configmaps/[^/]+$"),
        ("PATCH", r"workflows/[^/]+$"),  # kopf's own call: the finalizer it adds first
    ],
    ids=["create-job", "status-patch", "outputs-patch", "kopf-finalizer-patch"],
)
def test_a_stalled_call_times_out_and_the_workflow_completes_once_the_stall_is_lifted(
    emulated_cluster: EmulatedCluster,
    kube: Kube,
    sim: JobSimulator,
    own_operator: OperatorProcess,
    method: str,
    path: str,
) -> None:
    kube.component("proc")
    # every matching call of this namespace is held, never answered, until the test lifts the stall
    fault = emulated_cluster.faults.inject(
        method=method, path_regex=f"/namespaces/{kube.namespace}/{path}", stall=math.inf, times=None
    )
    try:
        kube.create("Workflow", "stalled", {"input": {"data": "x"}, "nodes": NODES})
        # a second attempt: the first call timed out instead of waiting forever
        wait_for(lambda: fault.hits >= 2, 45, what="the stalled call retried")
    finally:
        fault.times = fault.hits  # lifted: later calls are answered (held ones stay held until their client gives up)
    status = kube.wait_phase("stalled", "Succeeded", timeout=60)
    assert status["progress"] == "3/3"
    counts = collections.Counter(j.metadata.labels["switchyard.dev/node"] for j in kube.jobs())
    assert counts == {"a": 1, "b": 1, "c": 1}
    assert own_operator.alive
