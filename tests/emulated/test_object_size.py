"""What a real API server and etcd refuse, met by the real operator: Event messages over 1024 bytes,
objects near etcd's 1.5 MiB limit with their managedFields, client-side `kubectl apply` of a large spec."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest

from switchyard.k8s.leader import LeaderLease, LeaseSettings
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome
from tests.emulated.conftest import Kube, wait_for

TOO_LARGE = "etcdserver: request is too large"  # what kube-apiserver answers for an object over etcd's limit

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def test_a_multibyte_message_over_1024_bytes_still_reaches_its_event(kube: Kube) -> None:
    when = '"' + "é" * 600 + '" >>> 3'  # does not compile; the error quotes it: > 1,024 bytes, < 1,024 characters
    kube.create("RoutingRule", "wide", {"priority": 5, "when": when, "path": ["x"]})
    status: Any = wait_for(
        lambda: (s := kube.status("RoutingRule", "wide")).get("valid") is False and s, 20, what="invalid"
    )
    assert len(status["message"].encode()) > 1024
    event = kube.wait_event("wide", "InvalidExpression", timeout=30)
    assert len(event.message.encode()) <= 1024 and event.message.endswith("...")
    assert status["message"].startswith(event.message[:-3])


def test_lease_times_at_a_whole_second_are_sent_as_micro_times(kubeconfig: pathlib.Path, namespace: str) -> None:
    """Python's isoformat drops the fraction at .000000; the API server then refuses the Lease (400)."""
    api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    whole_second = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    settings = LeaseSettings(name="micro", namespace=namespace, identity="me", duration=15, renew_every=5)
    lease = LeaderLease(kubernetes.client.CoordinationV1Api(api_client), settings, wall_clock=lambda: whole_second)
    assert lease.try_acquire()
    lease.renew()  # the stored times come back as whole-second datetimes and are sent again
    assert lease.try_acquire()  # mine: replaced with the acquire time read back
    lease.release()
    stored = kubernetes.client.CoordinationV1Api(api_client).read_namespaced_lease("micro", namespace)
    assert stored.spec.holder_identity in ("", None) and stored.spec.acquire_time == whole_second
    api_client.close()


def test_a_status_write_etcd_refuses_as_too_large_ends_the_workflow_not_retried(
    kube: Kube, sim: JobSimulator, emulated_cluster: EmulatedCluster
) -> None:
    """A real cluster answers a write over etcd's limit with 500 `etcdserver: request is too large`; the same
    write fails every time, so the runner ends the Workflow Failed (TooLarge) instead of retrying forever."""
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=0.3, message="ok")
    status_path = rf"/namespaces/{kube.namespace}/workflows/huge/status$"
    # the start goes through; the next status write (progress or the final phase) is refused
    emulated_cluster.faults.inject(
        method="PATCH", path_regex=status_path, status=500, message=TOO_LARGE, times=1, after=1
    )
    kube.create("Workflow", "huge", {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}]})
    status = kube.wait_phase("huge", "Failed", "Succeeded", timeout=30)
    assert status["phase"] == "Failed", status
    assert "etcdserver: request is too large" in status["message"] and "nodes" not in status
    assert any(c["type"] == "Failed" and c["reason"] == "TooLarge" for c in status["conditions"])
    assert kube.wait_event("huge", "TooLarge").type == "Warning"


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="the kubectl binary is not installed on this machine")
@pytest.mark.kubectl
def test_client_side_kubectl_apply_of_a_large_spec_is_refused_server_side_apply_works(
    kubeconfig: pathlib.Path, kube: Kube, sim: JobSimulator, tmp_path: pathlib.Path
) -> None:
    """Client-side `kubectl apply` copies the whole object into the last-applied-configuration annotation,
    and annotations hold 256 KiB in all: a spec over that (a 300 KiB inline input is allowed) is refused.
    `kubectl apply --server-side` (or `kubectl create`) keeps no such copy and works."""
    assert KUBECTL is not None
    kube.component("proc")
    workflow = {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "large", "namespace": kube.namespace},
        "spec": {"input": {"data": "x" * 300_000}, "nodes": [{"name": "a", "component": "proc"}]},
    }
    manifest = tmp_path / "large.json"
    manifest.write_text(json.dumps(workflow))

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    refused = kubectl("apply", "-f", str(manifest))
    assert refused.returncode != 0
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in refused.stderr
    applied = kubectl("apply", "--server-side", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert kube.wait_phase("large", "Succeeded", "Failed", "Invalid")["phase"] == "Succeeded"
    stored = kube.get("Workflow", "large")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (stored["metadata"].get("annotations") or {})
    assert any(e["manager"] == "kubectl" and e["operation"] == "Apply" for e in stored["metadata"]["managedFields"])
