"""The job simulator does what a real kubelet and job controller do to Pods: disruptions and podFailurePolicy,
Pending time inside activeDeadlineSeconds, required mounts, injected sidecars, termination-message cuts, the
job-tracking finalizer and the 1.31+ two-step Job conditions."""

from __future__ import annotations

import json
import pathlib
import sys
import threading
from collections.abc import Iterator

import kubernetes
import pytest
from tests.emulator.test_jobsim import conditions, ended, job_body, job_status, k8s, namespace, pods_of

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.kubelet import JOB_TRACKING_FINALIZER, SIDECAR_NAME
from switchyard.sandbox.podexec import PodExecution
from switchyard.sandbox.waiting import wait_for

__all__ = ["k8s", "namespace"]  # fixtures shared with test_jobsim

pytestmark = pytest.mark.emulated

IGNORE_DISRUPTIONS = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}


@pytest.fixture
def sim(kubeconfig: pathlib.Path, namespace: str, request: pytest.FixtureRequest) -> Iterator[JobSimulator]:
    # this test's namespace only: the shared emulator holds Jobs of earlier tests that no simulator ran
    options = {"namespace": namespace, **getattr(request, "param", {})}
    with JobSimulator(kubeconfig, **options) as simulator:
        yield simulator


def create(k8s: kubernetes.client.ApiClient, namespace: str, body: dict) -> None:
    kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, body)


def main_state(pod: dict) -> dict:
    return next(cs for cs in pod["status"]["containerStatuses"] if cs["name"] == "main")["state"]


def test_an_evicted_pod_fails_a_job_without_a_pod_failure_policy(k8s, namespace, sim: JobSimulator):
    sim.rule = lambda job: Outcome(disruptions=1)
    create(k8s, namespace, job_body("evicted", "e"))
    status = ended(k8s, namespace, "evicted")
    assert conditions(status)["Failed"] == ("True", "BackoffLimitExceeded")
    [pod] = pods_of(k8s, namespace, "evicted")
    assert pod["status"]["phase"] == "Failed"
    assert conditions(pod["status"])["DisruptionTarget"] == ("True", "TerminationByKubelet")
    assert main_state(pod)["terminated"]["exitCode"] == 143


def test_a_pod_failure_policy_ignoring_disruptions_replaces_the_pod(k8s, namespace, sim: JobSimulator):
    sim.rule = lambda job: Outcome(disruptions=1, message="done")
    create(k8s, namespace, job_body("kept", "k", podFailurePolicy=IGNORE_DISRUPTIONS, podReplacementPolicy="Failed"))
    status = ended(k8s, namespace, "kept")
    assert conditions(status)["Complete"] == ("True", "CompletionsReached")
    assert status.get("failed") is None  # an ignored failure is not counted
    pods = pods_of(k8s, namespace, "kept")
    phases = sorted((p["status"]["phase"], "DisruptionTarget" in conditions(p["status"])) for p in pods)
    assert phases == [("Failed", True), ("Succeeded", False)]
    assert sim.started_keys() == [("kept", "k", 1)]  # one Job started, whatever its Pods


def test_a_fail_job_rule_on_exit_codes_ends_the_job_with_pod_failure_policy(k8s, namespace, sim: JobSimulator):
    sim.rule = lambda job: Outcome(succeed=False, exit_code=42)
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    create(k8s, namespace, job_body("fatal", "f", backoffLimit=3, podFailurePolicy=policy))
    assert conditions(ended(k8s, namespace, "fatal"))["Failed"] == ("True", "PodFailurePolicy")
    assert len(pods_of(k8s, namespace, "fatal")) == 1  # no retry under backoffLimit 3


def test_the_deadline_counts_from_the_job_start_pending_included(k8s, namespace, sim: JobSimulator):
    sim.rule = lambda job: Outcome(pending=30, delay=0.1)
    create(k8s, namespace, job_body("slowpull", "s", activeDeadlineSeconds=1))
    # a Pod is Pending before the kubelet reports its containers too: wait for the container's state
    pending = wait_for(
        lambda: (p := pods_of(k8s, namespace, "slowpull")) and p[0]["status"].get("containerStatuses") and p, 10
    )
    assert pending[0]["status"]["phase"] == "Pending"
    assert main_state(pending[0])["waiting"]["reason"] == "ContainerCreating"
    status = ended(k8s, namespace, "slowpull")
    assert conditions(status)["Failed"] == ("True", "DeadlineExceeded")
    [pod] = pods_of(k8s, namespace, "slowpull")
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert "startedAt" not in main_state(pod)["terminated"]  # the container never ran
    assert sim.started == []


def test_a_missing_required_item_holds_the_pod_in_container_creating(k8s, namespace, sim: JobSimulator):
    core = kubernetes.client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "outs"}, "data": {}})
    body = job_body("waits", "w")
    pod_spec = body["spec"]["template"]["spec"]
    pod_spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/switchyard"}]
    items = [{"key": "up", "path": "upstream/up"}]
    pod_spec["volumes"] = [{"name": "v", "projected": {"sources": [{"configMap": {"name": "outs", "items": items}}]}}]
    create(k8s, namespace, body)
    wait_for(lambda: sim.mount_waits == ["waits"], 10)
    [pod] = pods_of(k8s, namespace, "waits")
    assert pod["status"]["phase"] == "Pending" and main_state(pod)["waiting"]["reason"] == "ContainerCreating"
    assert sim.started == []
    core.patch_namespaced_config_map("outs", namespace, {"data": {"up": "late"}})
    ended(k8s, namespace, "waits")
    [pod] = pods_of(k8s, namespace, "waits")
    assert json.loads(main_state(pod)["terminated"]["message"])["upstream"] == {"up": "late"}


@pytest.mark.parametrize("sim", [{"sidecars": True}], indirect=True)
def test_an_injected_sidecar_keeps_the_pod_running_after_main_exits(k8s, namespace, sim: JobSimulator):
    create(k8s, namespace, job_body("meshed", "m"))
    wait_for(lambda: sim.is_finished("meshed"), 10)
    pod = wait_for(lambda: (p := pods_of(k8s, namespace, "meshed")) and "terminated" in main_state(p[0]) and p[0], 10)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main", SIDECAR_NAME]
    assert pod["status"]["phase"] == "Running"
    sidecar = next(cs for cs in pod["status"]["containerStatuses"] if cs["name"] == SIDECAR_NAME)
    assert "running" in sidecar["state"]
    assert job_status(k8s, namespace, "meshed").get("active") == 1  # the Job waits for the Pod, forever
    opted_out = job_body("plain", "p")
    opted_out["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] = "false"
    create(k8s, namespace, opted_out)
    ended(k8s, namespace, "plain")
    [pod] = pods_of(k8s, namespace, "plain")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main"]


def test_termination_messages_keep_the_last_4096_bytes_and_the_log_tail(k8s, namespace, sim: JobSimulator):
    log = "".join(f"line {i}\n" for i in range(200))
    sim.rule = lambda job: (
        Outcome(message="x" * 5000 + "END") if job.node == "long" else Outcome(succeed=False, message="", log=log)
    )
    create(k8s, namespace, job_body("long", "long"))
    silent = job_body("silent", "silent")
    silent["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    create(k8s, namespace, silent)
    ended(k8s, namespace, "long")
    ended(k8s, namespace, "silent")
    message = main_state(pods_of(k8s, namespace, "long")[0])["terminated"]["message"]
    assert len(message) == 4096 and message.endswith("END")
    fallback = main_state(pods_of(k8s, namespace, "silent")[0])["terminated"]["message"]
    assert fallback.splitlines() == [f"line {i}" for i in range(120, 200)]  # the last 80 lines (< 2048 bytes)


def test_pods_carry_the_job_tracking_finalizer_until_counted_and_conditions_come_in_two_writes(
    k8s, namespace, kubeconfig, sim: JobSimulator
):
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    seen: list[set[str]] = []
    watching = threading.Event()

    def watch() -> None:
        stream = kubernetes.watch.Watch()
        batch = kubernetes.client.BatchV1Api(client)
        watching.set()
        for event in stream.stream(batch.list_namespaced_job, namespace, timeout_seconds=10):
            status = event["object"].status
            types = {c.type for c in ((status and status.conditions) or []) if c.status == "True"}
            seen.append(types)
            if "Complete" in types:
                stream.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    watching.wait(5)
    sim.rule = lambda job: Outcome(delay=1.0)
    create(k8s, namespace, job_body("tracked", "t"))
    pod = wait_for(
        lambda: (p := pods_of(k8s, namespace, "tracked")) and p[0]["status"].get("phase") == "Running" and p[0], 10
    )
    assert pod["metadata"]["finalizers"] == [JOB_TRACKING_FINALIZER]
    assert pod["spec"]["dnsPolicy"] == "ClusterFirst" and pod["spec"]["tolerations"]  # the API server's defaults
    ended(k8s, namespace, "tracked")
    watcher.join(15)
    client.close()
    assert {"SuccessCriteriaMet"} in seen  # before Complete, in a write of its own
    assert seen[-1] == {"SuccessCriteriaMet", "Complete"}
    assert not pods_of(k8s, namespace, "tracked")[0]["metadata"].get("finalizers")


def test_the_local_runner_keeps_what_the_kubelet_keeps(tmp_path: pathlib.Path) -> None:
    script = (
        "import os, sys\n"
        "if sys.argv[1]: open(os.environ['SWITCHYARD_TERMINATION_LOG'], 'w').write(sys.argv[1] * 5000 + 'END')\n"
        "print('\\n'.join(f'line {i}' for i in range(200)))\n"
        "sys.exit(int(sys.argv[2]))\n"
    )

    def run(name: str, written: str, code: str) -> str:
        container = {
            "name": "main",
            "image": "switchyard",
            "command": [sys.executable, "-c", script, written, code],
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
        execution = PodExecution(
            {"containers": [container]},
            {"name": name, "namespace": "default"},
            pod_dir=tmp_path / name,
            log_dir=tmp_path / f"{name}-logs",
            read_data=lambda kind, ref: None,
            bwrap=None,
        )
        (status,) = execution.run(30).statuses
        return str(status["state"]["terminated"]["message"])

    long = run("long", "x", "0")
    assert len(long) == 4096 and long.endswith("END")  # the tail, as the kubelet reads it
    silent = run("silent", "", "1")
    assert silent.splitlines() == [f"line {i}" for i in range(120, 200)]  # the log's last 80 lines


@pytest.mark.parametrize("sim", [{"configmap_ttl": 30.0}], indirect=True)
def test_a_kubelet_configmap_cache_serves_a_stale_copy_until_its_ttl(k8s, namespace, sim: JobSimulator):
    core = kubernetes.client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"k": "old"}})

    def reader(name: str) -> dict:
        body = job_body(name, name)
        pod_spec = body["spec"]["template"]["spec"]
        pod_spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/switchyard"}]
        items = [{"key": "k", "path": "upstream/k"}]
        pod_spec["volumes"] = [{"name": "v", "configMap": {"name": "c", "items": items}}]
        return body

    create(k8s, namespace, reader("first"))
    ended(k8s, namespace, "first")
    core.patch_namespaced_config_map("c", namespace, {"data": {"k": "new"}})
    create(k8s, namespace, reader("second"))
    ended(k8s, namespace, "second")
    [pod] = pods_of(k8s, namespace, "second")
    assert json.loads(main_state(pod)["terminated"]["message"])["upstream"] == {"k": "old"}
