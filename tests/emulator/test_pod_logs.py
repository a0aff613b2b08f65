"""The emulator's Pod ``log`` subresource (``sandbox/podlogs.py``): container choice and errors as the API server
answers them, and ``follow=true`` streaming a log source until its container ends (the real kubectl)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading
from typing import Any

import kubernetes
import pytest

from switchyard.sandbox.apiserver import EmulatedCluster

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = [
    pytest.mark.emulated,
    pytest.mark.kubectl,
    pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed"),
]


class GrowingLog:
    """A ``podlogs.ContainerLog`` a test writes to."""

    def __init__(self, data: bytes = b"", *, finished: bool = False, waiting: str | None = None) -> None:
        self.data, self.done, self.waiting_reason = data, finished, waiting
        self.lock = threading.Lock()

    def write(self, more: bytes) -> None:
        with self.lock:
            self.data += more

    def finish(self) -> None:
        self.done = True

    def read(self, offset: int, size: int = 1 << 20) -> bytes:
        with self.lock:
            return self.data[offset : offset + size]

    def waiting(self) -> str | None:
        return self.waiting_reason

    def finished(self) -> bool:
        return self.done


def kubectl(kubeconfig: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=30)


def pod(cluster: EmulatedCluster, name: str, containers: list[str], inits: tuple[str, ...] = ()) -> None:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "x"} for c in containers]}
    if inits:
        spec["initContainers"] = [{"name": c, "image": "x"} for c in inits]
    cluster.create("pods", {"metadata": {"name": name}, "spec": spec})


@pytest.fixture
def logs(cluster: EmulatedCluster) -> Any:
    """{(pod, container): GrowingLog} served as the cluster's log source."""
    table: dict[tuple[str, str], GrowingLog] = {}
    source = lambda ns, pod, container: table.get((pod, container))  # noqa: E731
    cluster.api.log_sources.append(source)
    yield table
    cluster.api.log_sources.remove(source)


def test_follow_streams_until_the_container_ends(cluster: EmulatedCluster, module_kubeconfig, logs) -> None:
    pod(cluster, "follow1", ["main"])
    log = logs[("follow1", "main")] = GrowingLog(b"first\n")
    proc = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(module_kubeconfig), "logs", "-f", "follow1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first\n"  # what was there, at once
        log.write(b"second\n")
        assert proc.stdout.readline() == "second\n"  # what came later, while it runs
        assert proc.poll() is None  # still following: the container has not ended
        log.write(b"last\n")
        log.finish()
        assert proc.stdout.readline() == "last\n"
        assert proc.wait(timeout=15) == 0  # the stream ends with the container
    finally:
        proc.kill()
        proc.wait()


def test_follow_with_tail_starts_at_the_last_lines(cluster: EmulatedCluster, module_kubeconfig, logs) -> None:
    pod(cluster, "follow2", ["main"])
    logs[("follow2", "main")] = GrowingLog(b"a\nb\nc\n", finished=True)
    got = kubectl(module_kubeconfig, "logs", "-f", "--tail=2", "follow2")
    assert (got.returncode, got.stdout) == (0, "b\nc\n")


def test_containers_are_chosen_as_the_api_server_does(cluster: EmulatedCluster, module_kubeconfig, logs) -> None:
    pod(cluster, "multi", ["main", "helper"], inits=("setup",))
    logs[("multi", "helper")] = GrowingLog(b"helper says hi\n", finished=True)
    logs[("multi", "setup")] = GrowingLog(b"setting up\n", finished=True)
    assert kubectl(module_kubeconfig, "logs", "multi", "-c", "helper").stdout == "helper says hi\n"
    assert kubectl(module_kubeconfig, "logs", "multi", "-c", "setup").stdout == "setting up\n"
    wrong = kubectl(module_kubeconfig, "logs", "multi", "-c", "nope")
    assert wrong.returncode != 0 and "container nope is not valid for pod multi" in wrong.stderr
    previous = kubectl(module_kubeconfig, "logs", "multi", "-c", "helper", "--previous")
    assert previous.returncode != 0
    assert 'previous terminated container "helper" in pod "multi" not found' in previous.stderr


def test_a_container_not_started_yet_is_a_400(cluster: EmulatedCluster, module_kubeconfig, logs) -> None:
    pod(cluster, "pending1", ["main"])
    logs[("pending1", "main")] = GrowingLog(waiting="PodInitializing")
    got = kubectl(module_kubeconfig, "logs", "pending1")
    assert got.returncode != 0
    assert 'container "main" in pod "pending1" is waiting to start: PodInitializing' in got.stderr


def test_without_container_a_multi_container_pod_is_a_400(cluster: EmulatedCluster, api_client) -> None:
    pod(cluster, "multi2", ["a", "b"])
    core = kubernetes.client.CoreV1Api(api_client)
    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.read_namespaced_pod_log("multi2", "default")
    assert caught.value.status == 400
    assert "a container name must be specified for pod multi2, choose one of: [a b]" in str(caught.value.body)
