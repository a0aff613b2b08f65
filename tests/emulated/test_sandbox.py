"""The sandbox: `LocalJobRunner` really running processors for Jobs, and `switchyard dev` end to end."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.k8s import render
from switchyard.logic import naming
from switchyard.models.component import ComponentSpec
from switchyard.sandbox import isolation
from switchyard.sandbox.localjobs import LocalJobRunner, image_name
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(kubeconfig: pathlib.Path, namespace: str) -> Iterator[LocalJobRunner]:
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=2) as job_runner:
        yield job_runner
    assert not job_runner.errors


def operator_job(
    kube: Kube,
    workflow: str,
    node: str,
    component: dict[str, Any],
    deps: tuple[str, ...] = (),
    deadline: int | None = None,
) -> dict[str, Any]:
    """A Job exactly as the operator renders it (projected volume: input, config.json, upstream outputs)."""
    meta = {"name": workflow, "namespace": kube.namespace, "uid": f"uid-{workflow}"}
    body = render.job(
        {"metadata": meta},
        name=naming.job_name(workflow, meta["uid"], node, 0, 1),
        node=node,
        attempt=1,
        component_name="proc",
        component=ComponentSpec.model_validate(component),
        node_config={},
        deps=deps,
        input_source=(naming.input_configmap(workflow), "data"),
        output_shards=1,
    )
    body["metadata"].pop("ownerReferences", None)  # no Workflow object behind this Job
    if deadline is not None:  # the Job's own backstop, without the operator's timeoutSeconds from the start
        body["spec"]["activeDeadlineSeconds"] = deadline
    kube.batch.create_namespaced_job(kube.namespace, body)
    return body


def finished(kube: Kube, job: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Job status, terminated state of its Pod's container) once the Job has a final condition."""

    def final() -> Any:
        status = kube.client.sanitize_for_serialization(kube.batch.read_namespaced_job_status(job, kube.namespace))
        conditions = {c["type"] for c in (status.get("status") or {}).get("conditions") or []}
        return status["status"] if conditions & {"Complete", "Failed"} else None

    status = wait_for(final, timeout=30, what=f"job {job} to finish")
    pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=f"job-name={job}").items
    terminated = kube.client.sanitize_for_serialization(pods[0].status.container_statuses[0].state.terminated)
    return status, terminated


def configmap(kube: Kube, name: str, data: dict[str, str]) -> None:
    kube.core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": name}, "data": data})


def builtin(name: str, **spec: Any) -> dict[str, Any]:
    return {"image": "switchyard:sandbox", "command": ["python", "-m", "switchyard.processors", name], **spec}


def test_image_names() -> None:
    assert image_name("switchyard:sandbox") == "switchyard"
    assert image_name("ghcr.io/acme/switchyard:0.1.0@sha256:abc") == "switchyard"
    assert image_name("localhost:5000/busybox") == "busybox"


def test_runs_json_processor_with_the_pods_files(kube: Kube, runner: LocalJobRunner) -> None:
    configmap(kube, naming.input_configmap("wf"), {"data": '{"station": "north-7", "readings": [1, 2]}'})
    job = operator_job(kube, "wf", "parse", builtin("json-processor", timeoutSeconds=60))
    status, terminated = finished(kube, job["metadata"]["name"])
    assert status["succeeded"] == 1
    assert terminated["exitCode"] == 0
    output = json.loads(terminated["message"])
    assert output["processor"] == "json-processor"
    assert (output["workflow"], output["node"], output["attempt"]) == ("wf", "parse", 1)  # from the container env
    assert output["keys"] == ["readings", "station"]  # from /switchyard/input


def test_failure_carries_the_termination_message(kube: Kube, runner: LocalJobRunner) -> None:
    configmap(kube, naming.input_configmap("wf2"), {"data": "{}"})
    configmap(kube, naming.output_configmap("wf2", "up", 1), {"up": '{"error": "upstream broke"}'})
    job = operator_job(kube, "wf2", "check", builtin("data-validator"), deps=("up",))
    status, terminated = finished(kube, job["metadata"]["name"])
    assert status["failed"] == 1
    assert terminated["exitCode"] != 0
    assert "upstream" in terminated["message"]  # read from /switchyard/upstream/up


def test_refuses_an_executable_that_is_not_here(kube: Kube, runner: LocalJobRunner) -> None:
    configmap(kube, naming.input_configmap("wf3"), {"data": "x"})
    job = operator_job(kube, "wf3", "other", {"image": "busybox:1.36", "command": ["no-such-tool-here", "-c"]})
    status, terminated = finished(kube, job["metadata"]["name"])
    assert status["failed"] == 1
    assert terminated["message"].startswith("sandbox runs only commands available locally:")
    assert "images are not pulled" in terminated["message"]


def test_without_bubblewrap_only_the_switchyard_image_runs(kubeconfig: pathlib.Path, kube: Kube) -> None:
    """Never a user's command unisolated: without bwrap another image's command is refused, saying how to get
    bwrap, and the built-in processors still run."""
    configmap(kube, naming.input_configmap("wf3b"), {"data": '{"a": 1}'})
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2, bwrap=None) as unisolated:
        other = operator_job(kube, "wf3b", "other", {"image": "busybox:1.36", "command": ["sh", "-c", "true"]})
        status, terminated = finished(kube, other["metadata"]["name"])
        assert status["failed"] == 1
        assert "bubblewrap" in terminated["message"] and "apt-get install bubblewrap" in terminated["message"]
        own = operator_job(kube, "wf3b", "parse", builtin("json-processor"))
        status, terminated = finished(kube, own["metadata"]["name"])
        assert status["succeeded"] == 1, terminated
        assert json.loads(terminated["message"])["keys"] == ["a"]
    assert not unisolated.errors


def test_deadline_and_logs_fallback(kube: Kube, runner: LocalJobRunner) -> None:
    configmap(kube, naming.input_configmap("wf4"), {"data": "x"})
    slow = {"image": "switchyard", "command": ["python", "-c", "import time; time.sleep(30)"], "timeoutSeconds": 1}
    job = operator_job(kube, "wf4", "slow", slow, deadline=1)
    status, _ = finished(kube, job["metadata"]["name"])
    assert [c["reason"] for c in status["conditions"]] == ["DeadlineExceeded", "DeadlineExceeded"]

    noisy = {"image": "switchyard", "command": ["python", "-c", "import sys; print('boom'); sys.exit(3)"]}
    job = operator_job(kube, "wf4", "noisy", noisy)
    status, terminated = finished(kube, job["metadata"]["name"])
    assert (status["failed"], terminated["exitCode"], terminated["message"].strip()) == (1, 3, "boom")


@pytest.mark.timeout(420)
def test_switchyard_dev_runs_the_examples(tmp_path: pathlib.Path) -> None:
    executable = shutil.which("switchyard", path=os.path.dirname(sys.executable)) or shutil.which("switchyard")
    assert executable, "the switchyard console script is not installed"
    # 100 MiB through 3 real processes: ~40 s on an idle machine, 90 s and more on a loaded 2-core CI
    proc = subprocess.run(
        [executable, "dev", "--dir", str(tmp_path / "sandbox"), "--timeout", "240"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=360,
    )
    output = proc.stdout + proc.stderr
    operator_log = tmp_path / "sandbox" / "operator.log"
    assert proc.returncode == 0, output + (operator_log.read_text()[-4000:] if operator_log.exists() else "")
    assert "SANDBOX: an in-memory Kubernetes API emulator and a local job runner, not a cluster" in output
    assert "images are NOT pulled" in output and "this machine's programs" in output
    for workflow in ("diamond", "routed-order", "analysed-readings", "breaker-demo", "foreach"):
        assert f"  {workflow}: Succeeded (expected Succeeded: ok)" in output
    # The fallback example ends with the fallback used: two failures opened the breaker.
    validate = [
        line.replace("│", " ").replace("|", " ").split()
        for line in output.splitlines()
        if "strict-validator circuit open" in line
    ]
    assert any(cells[:3] == ["validate", "FellBack", "2"] for cells in validate), output  # 2 ran, 3rd fell back
    # The sandbox has stopped: no instructions to connect to it, but how to keep it running.
    assert "export KUBECONFIG=" not in output
    assert "--keep-running" in output and "The sandbox stops now" in output
    # The Trigger example: a CloudEvent posted to the ingest endpoint started a Workflow that succeeded.
    assert "  event order-1 -> Trigger order-events: 202 Workflow order-events-" in output
    assert "  event order-1 -> Trigger order-batches: 202 pending batch order-batches-batch-" in output
    triggered = next(line for line in output.splitlines() if line.startswith("  order-events-") and "expected" in line)
    assert triggered.endswith(": Succeeded (expected Succeeded: ok)")
    assert "curl -i http://127.0.0.1:" not in output  # the ingest endpoint is gone too


def test_switchyard_dev_keep_running_prints_how_to_connect_while_it_runs(tmp_path: pathlib.Path) -> None:
    executable = shutil.which("switchyard", path=os.path.dirname(sys.executable)) or shutil.which("switchyard")
    assert executable, "the switchyard console script is not installed"
    proc = subprocess.Popen(
        [executable, "dev", "--dir", str(tmp_path / "sandbox"), "--no-examples"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Operator log:" in line for line in lines), timeout=90, what="the instructions")
        output = "".join(lines)
        assert "The sandbox keeps running until Ctrl-C" in output
        assert f"export KUBECONFIG={tmp_path / 'sandbox' / 'kubeconfig'}" in output
        assert "curl -i http://127.0.0.1:" in output and "ce-type: com.example.order.created" in output
        kubectl = shutil.which("kubectl")
        if kubectl:  # what the instructions promise works while they are on screen
            got = subprocess.run(
                [kubectl, "--kubeconfig", str(tmp_path / "sandbox" / "kubeconfig"), "get", "components"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert got.returncode == 0 and "json-processor" in got.stdout, got.stderr
        # the embedded S3 server is the `default` ArtifactStore, Ready, usable with `switchyard artifacts`
        assert "Artifact store: S3 API (moto) at http://127.0.0.1:" in output
        sandbox_kube = Kube(tmp_path / "sandbox" / "kubeconfig", "default")
        wait_for(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (sandbox_kube.custom.get_namespaced_custom_object(
                    "switchyard.dev", "v1alpha1", "default", "artifactstores", "default"
                ).get("status") or {}).get("conditions") or []
            ),
            timeout=30,
            what="the default ArtifactStore Ready",
        )  # fmt: skip
        (tmp_path / "hello.txt").write_text("hello store\n")
        cli = [executable, "--kubeconfig", str(tmp_path / "sandbox" / "kubeconfig"), "artifacts"]
        put = subprocess.run([*cli, "put", str(tmp_path / "hello.txt"), "hello.txt"], capture_output=True, text=True)
        assert put.returncode == 0, put.stderr
        got = subprocess.run([*cli, "get", "hello.txt"], capture_output=True, text=True, timeout=60)
        assert got.returncode == 0 and got.stdout == "hello store\n", got.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_deleting_a_job_kills_its_process(kube: Kube, runner: LocalJobRunner) -> None:
    configmap(kube, naming.input_configmap("wf5"), {"data": "x"})
    slow = {"image": "switchyard", "command": ["python", "-c", "import time; time.sleep(120)"]}
    job = operator_job(kube, "wf5", "slow", slow)
    name = job["metadata"]["name"]
    uid = kube.batch.read_namespaced_job(name, kube.namespace).metadata.uid
    proc = wait_for(lambda: next(iter(runner.processes(uid)), None), timeout=30, what="the Job's process to start")
    assert proc.poll() is None
    kube.batch.delete_namespaced_job(name, kube.namespace, propagation_policy="Background")
    wait_for(lambda: proc.poll() is not None, timeout=15, what="the deleted Job's process to be killed")
    assert runner.killed == [name]
    assert not runner.is_finished(name)  # no status is written for a deleted Job


def test_stopping_the_runner_kills_running_processes(kubeconfig: pathlib.Path, kube: Kube) -> None:
    configmap(kube, naming.input_configmap("wf6"), {"data": "x"})
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2) as job_runner:
        slow = {"image": "switchyard", "command": ["python", "-c", "import time; time.sleep(120)"]}
        job = operator_job(kube, "wf6", "slow", slow)
        uid = kube.batch.read_namespaced_job(job["metadata"]["name"], kube.namespace).metadata.uid
        proc = wait_for(
            lambda: next(iter(job_runner.processes(uid)), None), timeout=30, what="the Job's process to start"
        )
    assert proc.poll() is not None  # stop() returned promptly and the process is gone


def test_a_bwrap_that_cannot_isolate_here_is_not_used(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bubblewrap installed but without user namespaces (a locked-down host): the runner falls back to the
    built-in processors only, and the reason is kept for `switchyard dev` to print."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert isolation.probe(str(fake)) == "bwrap: No permissions to create a new namespace"
    assert isolation.find_bwrap() is None
