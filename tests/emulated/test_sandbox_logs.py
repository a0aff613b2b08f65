"""Live logs from the local runner: `kubectl logs -f POD` and `switchyard logs W NODE -f` stream a running
container's output until it ends; `--attempt N` / `--previous` show an earlier attempt's log.

A container is held mid-run by a gate: it prints, connects to a socket of the test (the sandbox shares the
host's network) and waits for one byte before printing again and exiting, so every step waits on a condition.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.localjobs import LocalJobRunner
from tests.emulated.conftest import Kube, wait_for
from tests.emulated.test_sandbox_pods import pod_job

KUBECTL = shutil.which("kubectl")
SWITCHYARD = shutil.which("switchyard", path=os.path.dirname(sys.executable)) or shutil.which("switchyard")
pytestmark = pytest.mark.emulated


class Gate:
    """A listening socket; containers connect and block until ``release()``."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with self.server:
            while True:
                try:
                    connection, _ = self.server.accept()
                except OSError:
                    return
                self.connections.append(connection)

    def release(self) -> None:
        wait_for(lambda: self.connections, timeout=30, what="the container to reach the gate")
        for connection in self.connections:
            connection.sendall(b"x")
            connection.close()

    def code(self, before: str, after: str) -> str:
        return (
            "import socket, sys\n"
            f"print({before!r}, flush=True)\n"
            f"gate = socket.create_connection(('127.0.0.1', {self.port}))\n"
            "gate.recv(1)\n"
            f"print({after!r}, flush=True)\n"
        )


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate()
    yield opened
    opened.server.close()


@pytest.fixture
def runner(emulated_cluster: EmulatedCluster, kubeconfig: pathlib.Path, namespace: str) -> Iterator[LocalJobRunner]:
    """A runner whose containers' output the cluster serves as Pod logs (as `switchyard dev` registers it)."""
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=2) as job_runner:
        emulated_cluster.api.log_sources.append(job_runner.pod_log)
        try:
            yield job_runner
        finally:
            emulated_cluster.api.log_sources.remove(job_runner.pod_log)
    assert not job_runner.errors


def running_pod(kube: Kube, selector: str) -> str:
    def find() -> Any:
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items
        return next((p.metadata.name for p in pods if p.status.phase == "Running"), None)

    return str(wait_for(find, timeout=60, what=f"a running pod {selector}"))


def stream(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_logs_follow_streams_a_running_container(
    kube: Kube, runner: LocalJobRunner, kubeconfig: pathlib.Path, gate: Gate
) -> None:
    main = {"name": "main", "image": "switchyard", "command": ["python", "-c", gate.code("first", "second")]}
    pod_job(kube, "live", {"containers": [main]})
    pod = running_pod(kube, "job-name=live")
    assert KUBECTL is not None
    proc = stream(KUBECTL, "--kubeconfig", str(kubeconfig), "-n", kube.namespace, "logs", "-f", pod)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first\n", proc.stderr.read() if proc.stderr else ""  # while it runs
        assert proc.poll() is None
        gate.release()
        assert proc.stdout.readline() == "second\n"
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""  # ends with the container
    finally:
        proc.kill()
        proc.wait()
    whole = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "-n", kube.namespace, "logs", pod],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert whole.stdout == "first\nsecond\n"


ATTEMPTS = """
import os, socket
attempt = os.environ["SWITCHYARD_ATTEMPT"]
if attempt == "1":
    print("attempt 1 fails", flush=True)
    raise SystemExit(2)
print(f"attempt {attempt} starts", flush=True)
gate = socket.create_connection(("127.0.0.1", PORT))
gate.recv(1)
print(f"attempt {attempt} done", flush=True)
"""


@pytest.mark.usefixtures("running_operator")
@pytest.mark.skipif(SWITCHYARD is None, reason="the switchyard console script is not installed")
def test_switchyard_logs_follows_a_node_and_shows_earlier_attempts(
    kube: Kube, runner: LocalJobRunner, kubeconfig: pathlib.Path, gate: Gate
) -> None:
    code = ATTEMPTS.replace("PORT", str(gate.port))
    spec = {
        "image": "switchyard",
        "command": ["python", "-c", code],
        "retry": {"limit": 2, "backoff": {"initialSeconds": 0.1}},
    }
    kube.create("Component", "gated", spec)
    kube.create("Workflow", "live", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "gated"}]})
    running_pod(kube, "switchyard.dev/node=n,switchyard.dev/attempt=2")
    assert SWITCHYARD is not None
    base = (SWITCHYARD, "--kubeconfig", str(kubeconfig), "-n", kube.namespace, "logs", "live", "n")
    wait_for(lambda: kube.status("Workflow", "live")["nodes"]["n"].get("attempts") == 2, 30, what="attempt 2")
    proc = stream(*base, "-f")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "attempt 2 starts\n"
        assert proc.poll() is None  # following the running attempt
        earlier = subprocess.run([*base, "--attempt", "1"], capture_output=True, text=True, timeout=60)
        assert (earlier.returncode, earlier.stdout) == (0, "attempt 1 fails\n"), earlier.stderr
        previous = subprocess.run([*base, "--previous"], capture_output=True, text=True, timeout=60)
        assert previous.stdout == "attempt 1 fails\n", previous.stderr
        gate.release()
        assert proc.stdout.readline() == "attempt 2 done\n"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert kube.wait_phase("live", "Succeeded", "Failed", timeout=60)["phase"] == "Succeeded"
    none = subprocess.run([*base, "--attempt", "3"], capture_output=True, text=True, timeout=60)
    assert none.returncode != 0 and "has 2 attempt(s): no attempt 3" in none.stderr
