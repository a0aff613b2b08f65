"""kubectl against the emulator, deadlines, TTL, metrics, and a large workflow's compact status."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import urllib.request

import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="the kubectl binary is not installed on this machine")


def kubectl(kubeconfig: pathlib.Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@needs_kubectl
@pytest.mark.kubectl
def test_kubectl_apply_get_wait_describe(
    kubeconfig: pathlib.Path, kube: Kube, sim: JobSimulator, tmp_path: pathlib.Path
) -> None:
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(
        """
apiVersion: switchyard.dev/v1alpha1
kind: Component
metadata: {name: proc}
spec: {image: example.com/proc:1}
---
apiVersion: switchyard.dev/v1alpha1
kind: Workflow
metadata: {name: kubectl-demo}
spec:
  input: {data: "hello"}
  nodes:
    - {name: a, component: proc}
    - {name: b, component: proc, dependsOn: [a]}
"""
    )
    sim.rule = lambda job: Outcome(delay=0.5)
    ns = ["-n", kube.namespace]
    applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", str(manifest), *ns)
    assert applied.returncode == 0, applied.stderr
    assert "workflow.switchyard.dev/kubectl-demo created" in applied.stdout
    waited = kubectl(kubeconfig, "wait", "--for=condition=Complete", "workflow/kubectl-demo", "--timeout=30s", *ns)
    assert waited.returncode == 0, waited.stderr
    assert "condition met" in waited.stdout
    table = kubectl(kubeconfig, "get", "workflows", *ns)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "ROUTE", "AGE"]
    assert row.split()[:4] == ["kubectl-demo", "Succeeded", "2/2", "explicit"]
    short = kubectl(kubeconfig, "get", "sywf", *ns)
    assert "kubectl-demo" in short.stdout
    comps = kubectl(kubeconfig, "get", "components", *ns)
    columns = ["NAME", "IMAGE", "BREAKER", "RUNNING", "WAITING", "FAILURE-RATE", "AGE"]
    assert comps.stdout.splitlines()[0].split() == columns
    assert comps.stdout.splitlines()[1].split()[:3] == ["proc", "example.com/proc:1", "Closed"]
    events = kubectl(kubeconfig, "get", "events", *ns)
    assert "Succeeded" in events.stdout and "Started" in events.stdout
    as_json = json.loads(kubectl(kubeconfig, "get", "workflow", "kubectl-demo", "-o", "json", *ns).stdout)
    assert as_json["status"]["nodes"]["b"]["phase"] == "Succeeded"


def test_active_deadline_fails_the_workflow_and_deletes_running_jobs(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=30.0)
    spec = {"input": {"data": "x"}, "nodes": [{"name": "slow", "component": "proc"}], "activeDeadlineSeconds": 2}
    kube.create("Workflow", "deadline", spec)
    status = kube.wait_phase("deadline", "Failed", timeout=15)
    assert status["nodes"]["slow"]["reason"] == "DeadlineExceeded"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    wait_for(lambda: kube.jobs() == [], 20, what="running Job deleted")


def test_ttl_after_finished_deletes_workflow_and_owned_objects(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    spec = {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}], "ttlSecondsAfterFinished": 1}
    kube.create("Workflow", "short-lived", spec)
    kube.wait_phase("short-lived", "Succeeded")

    def gone() -> bool:
        names = [w["metadata"]["name"] for w in kube.custom.list_namespaced_custom_object(
            "switchyard.dev", "v1alpha1", kube.namespace, "workflows")["items"]]  # fmt: skip
        return "short-lived" not in names

    wait_for(gone, 15, what="workflow deleted after its TTL")
    wait_for(lambda: kube.jobs() == [], 10, what="Jobs garbage-collected with the workflow")
    cms = kube.core.list_namespaced_config_map(kube.namespace).items
    assert [c.metadata.name for c in cms if c.metadata.name.startswith("short-lived")] == []


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not support Windows; asyncio's loop runs there")
def test_the_operator_process_runs_on_uvloop(running_operator: OperatorProcess) -> None:
    assert "event loop: uvloop.Loop" in running_operator.log(), running_operator.log()[-3000:]


def test_metrics_endpoint(running_operator: OperatorProcess, kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.create("Workflow", "measured", {"input": {"data": "x"}, "nodes": [
        {"name": "a", "component": "proc"}, {"name": "b", "component": "proc", "dependsOn": ["a"]}]})  # fmt: skip
    kube.wait_phase("measured", "Succeeded")
    url = f"http://127.0.0.1:{running_operator.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for name in (
        "switchyard_workflows{",
        "switchyard_jobs_created_total",
        "switchyard_node_duration_seconds_bucket",
        "switchyard_scheduling_latency_seconds_count",
        "switchyard_breaker_state",
    ):
        assert name in text, name
    assert f'switchyard_workflows{{namespace="{kube.namespace}",phase="Succeeded"}} 1.0' in text


@pytest.mark.timeout(600)  # the wait below allows 480 s; pytest's default 300 s cut it short in CI
def test_large_workflow_uses_compact_status(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [{"name": f"n{i}", "component": "proc"} for i in range(1200)]
    nodes.append({"name": "join", "component": "proc", "dependsOn": [f"n{i}" for i in range(0, 1200, 7)]})
    # the default output of a join holds every upstream output: past the kubelet's 4096 bytes (OutputTruncated)
    sim.rule = lambda job: Outcome(message='{"joined": true}') if job.node == "join" else None
    kube.create("Workflow", "big", {"input": {"data": "x"}, "nodes": nodes, "parallelism": 200})
    # 1,200 Jobs through the simulator: ~80 s alone, over 240 s when another heavy suite shares the 2 cores
    status = kube.wait_phase("big", "Succeeded", timeout=480)
    assert status["progress"] == "1201/1201"
    assert len(status["outputs"]) == 9, "outputs are spread over ConfigMaps of <= 150 nodes each"
    node = status["nodes"]["n5"]
    assert node["phase"] == "Succeeded" and "output" not in node and "job" not in node
    body = kube.get("Workflow", "big")
    size = len(json.dumps(body))
    assert size < 1_000_000, size
    # kopf keeps no copy of the spec in annotations (the 256 KiB cap would break large workflows)
    annotations = body["metadata"].get("annotations") or {}
    assert len(json.dumps(annotations)) < 1024, list(annotations)
