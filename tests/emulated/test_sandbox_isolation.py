"""The sandbox isolates every container with bubblewrap: any image's command that is on the host runs, with the
documented paths of its own Pod, as its runAsUser, and nothing outside the Pod's directory can be written."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.sandbox.isolation import find_bwrap
from switchyard.sandbox.localjobs import LocalJobRunner
from tests.emulated.conftest import Kube
from tests.emulated.test_sandbox_pods import final_pod, pod_job, terminated

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.emulated,
    pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap"),
]


@pytest.fixture
def runner(kubeconfig: pathlib.Path, namespace: str) -> Iterator[LocalJobRunner]:
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=2) as job_runner:
        assert job_runner.isolated
        yield job_runner
    assert not job_runner.errors


def python_container(code: str, **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": "python:3.12", "command": ["python", "-c", code], **extra}


PROBE = """
import json, os
from pathlib import Path
def attempt(path):
    try:
        Path(path).write_text("x")
        return "written"
    except OSError as e:
        return type(e).__name__
result = {
    "uid": os.getuid(),
    "etc": attempt("/etc/switchyard-escape"),
    "repo": attempt(REPO + "/escape"),
    "tmp": attempt("/tmp/mine"),
    "work": attempt("/work/mine"),
    "repo_visible_read_only": os.path.isdir(REPO + "/operator"),
}
Path("/dev/termination-log").write_text(json.dumps(result))
"""


def test_a_container_writes_only_its_pods_paths_as_its_uid(kube: Kube, runner: LocalJobRunner) -> None:
    code = f"REPO = {str(REPO)!r}\n{PROBE}"
    main = python_container(code, volumeMounts=[{"name": "work", "mountPath": "/work"}])
    spec = {"containers": [main], "securityContext": {"runAsUser": 4321, "runAsGroup": 4321}}
    pod = final_pod(kube, pod_job(kube, "probe", spec))
    (status,) = pod["status"]["containerStatuses"]
    assert terminated(status)["exitCode"] == 0, terminated(status)
    result = json.loads(terminated(status)["message"])  # /dev/termination-log is the Pod's, as documented
    assert result["uid"] == 4321
    assert result["tmp"] == result["work"] == "written"  # its own /tmp and its volume
    assert result["etc"] != "written" and result["repo"] != "written"  # read-only: the host's userland, the repo
    assert result["repo_visible_read_only"]
    assert not (REPO / "escape").exists() and not pathlib.Path("/etc/switchyard-escape").exists()


def test_the_containers_uid_overrides_the_pods(kube: Kube, runner: LocalJobRunner) -> None:
    code = "import os; open('/dev/termination-log', 'w').write(str(os.getuid()))"
    main = python_container(code, securityContext={"runAsUser": 1001})
    pod = final_pod(kube, pod_job(kube, "uid", {"containers": [main], "securityContext": {"runAsUser": 65532}}))
    assert terminated(pod["status"]["containerStatuses"][0])["message"] == "1001"


def test_the_host_termination_log_is_untouched(kube: Kube, runner: LocalJobRunner) -> None:
    host = pathlib.Path("/dev/termination-log")
    before = host.read_bytes() if host.exists() else None
    code = "open('/dev/termination-log', 'w').write('mine')"
    pod = final_pod(kube, pod_job(kube, "termlog", {"containers": [python_container(code)]}))
    assert terminated(pod["status"]["containerStatuses"][0])["message"] == "mine"
    assert (host.read_bytes() if host.exists() else None) == before


@pytest.mark.usefixtures("running_operator")
def test_a_workflow_node_with_another_image_gets_its_result(kube: Kube, runner: LocalJobRunner) -> None:
    """Through the operator: a Component with `image: python:3.12` writing /dev/termination-log as documented
    (reading /switchyard/input) gets its result on the node."""
    code = (
        "import json; data = open('/switchyard/input').read()\n"
        "open('/dev/termination-log', 'w').write(json.dumps({'length': len(data)}))"
    )
    kube.create("Component", "own", {"image": "python:3.12", "command": ["python", "-c", code]})
    kube.create("Workflow", "own", {"input": {"data": "hello"}, "nodes": [{"name": "n", "component": "own"}]})
    status = kube.wait_phase("own", "Succeeded", "Failed", timeout=60)
    assert status["phase"] == "Succeeded", status
    assert json.loads(status["nodes"]["n"]["output"]) == {"length": 5}
