"""Kills and artifacts, with the local runner (real processes) and the real S3 server (moto).

The staging step SIGKILLed mid-upload leaves no manifest, so nothing a downstream node could read; the retried
attempt writes under its own keys and the node records exactly that attempt's artifacts. The operator
SIGKILLed mid-run (twice) loses and duplicates nothing: one Job per attempt, every node's artifacts those of
its one attempt, the downstream sum exact.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from minio import Minio

from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube, new_namespace, wait_for
from tests.emulated.storehelpers import make_store, put

pytestmark = pytest.mark.emulated
NUMBERS = range(1, 40001)
DATA = "".join(f"{n}\n" for n in NUMBERS).encode()
NODES = [
    {"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 1000, "lines": True}},
    {"name": "sum", "component": "numeric-processor", "dependsOn": ["chunk"]},
]


def _objects(client: Minio, bucket: str, prefix: str) -> list[str]:
    return [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True)]


def _job_of(kube: Kube, node: str, attempt: int) -> Any:
    return next(
        (
            j
            for j in kube.jobs()
            if j.metadata.labels["switchyard.dev/node"] == node
            and j.metadata.labels["switchyard.dev/attempt"] == str(attempt)
        ),
        None,
    )


def _sum_of(kube: Kube, status: dict[str, Any]) -> dict[str, Any]:
    return json.loads(next(v for n in status["outputs"] if (v := kube.configmap(n).get("sum"))))


def test_stage_out_killed_mid_upload_leaves_nothing_readable_and_the_retry_has_its_own_keys(
    kube: Kube, s3_server: S3Server, kubeconfig: pathlib.Path, running_operator: Any
) -> None:
    client = make_store(kube, s3_server)
    put(client, s3_server.bucket, "inputs/numbers.txt", DATA)
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2) as runner:
        kube.create("Workflow", "kill", {"input": {"artifact": {"key": "inputs/numbers.txt"}}, "nodes": NODES})
        uid = wait_for(lambda: kube.get("Workflow", "kill")["metadata"].get("uid"), 10, what="the uid")
        first = f"workflows/{kube.namespace}/kill/{uid}/chunk/1/"
        job = wait_for(lambda: _job_of(kube, "chunk", 1), 60, what="chunk's first Job")
        wait_for(
            lambda: len(_objects(client, s3_server.bucket, first)) >= 3, 60, what="the upload under way", interval=0.01
        )
        uploading = [p for p in runner.processes(job.metadata.uid) if "--prefix" in p.args and p.poll() is None]
        assert len(uploading) == 1, [p.args for p in runner.processes(job.metadata.uid)]
        os.killpg(uploading[0].pid, signal.SIGKILL)  # stage-out, mid-upload: no cleanup at all
        status = kube.wait_phase("kill", "Succeeded", "Failed", timeout=180)
    assert not runner.errors
    assert status["phase"] == "Succeeded", status["nodes"]
    chunk = status["nodes"]["chunk"]
    assert chunk["attempts"] == 2
    left = _objects(client, s3_server.bucket, first)
    assert 3 <= len(left) < len(DATA) // 1000  # what the killed upload left: part of it ...
    assert not _objects(client, s3_server.bucket, f"workflows/{kube.namespace}/kill/{uid}/chunk/1.manifest.json")
    assert chunk["artifactManifest"].endswith("/chunk/2.manifest.json")  # ... never readable: no manifest
    assert {a["key"].rsplit("/", 2)[-2] for a in chunk["artifacts"]} == {"2"}  # exactly the attempt that succeeded
    sum_job = _job_of(kube, "sum", 1)
    stage_in = sum_job.spec.template.spec.init_containers[0].args
    assert f"chunk={chunk['artifactManifest']}" in stage_in
    summary = _sum_of(kube, status)
    assert summary["count"] == len(NUMBERS) and summary["sum"] == sum(NUMBERS)  # nothing lost, nothing twice


@pytest.fixture
def own_operator(kubeconfig: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[tuple[OperatorProcess, Kube]]:
    namespace = new_namespace(kubeconfig, "ak")
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=(namespace,)).start()
    proc.wait_ready()
    yield proc, Kube(kubeconfig, namespace)
    proc.stop()


def test_operator_sigkill_mid_run_loses_and_duplicates_no_artifact(
    own_operator: tuple[OperatorProcess, Kube], s3_server: S3Server, kubeconfig: pathlib.Path
) -> None:
    operator, kube = own_operator
    client = make_store(kube, s3_server)
    put(client, s3_server.bucket, "inputs/numbers.txt", DATA)
    nodes = [*NODES, {"name": "check", "component": "data-validator", "dependsOn": ["sum"]}]
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2) as runner:
        kube.create("Workflow", "crash", {"input": {"artifact": {"key": "inputs/numbers.txt"}}, "nodes": nodes})
        uid = wait_for(lambda: kube.get("Workflow", "crash")["metadata"].get("uid"), 10, what="the uid")
        base = f"workflows/{kube.namespace}/crash/{uid}/"
        wait_for(
            lambda: _objects(client, s3_server.bucket, f"{base}chunk/1/"), 60, what="chunk uploading", interval=0.01
        )
        operator.kill()  # while chunk's outputs go up
        operator.start()
        operator.wait_ready()
        wait_for(lambda: _job_of(kube, "sum", 1), 60, what="sum's Job")
        operator.kill()  # while sum runs on chunk's artifacts
        operator.start()
        operator.wait_ready()
        status = kube.wait_phase("crash", "Succeeded", "Failed", timeout=180)
    assert not runner.errors
    assert status["phase"] == "Succeeded", status["nodes"]
    jobs = Counter(
        (j.metadata.labels["switchyard.dev/node"], j.metadata.labels["switchyard.dev/attempt"]) for j in kube.jobs()
    )
    assert jobs == Counter({("chunk", "1"): 1, ("sum", "1"): 1, ("check", "1"): 1})
    chunk = status["nodes"]["chunk"]
    manifest = json.loads(client.get_object(s3_server.bucket, chunk["artifactManifest"]).read())
    listed = [a["key"] for a in manifest["artifacts"]]
    assert listed[: len(chunk["artifacts"])] == [a["key"] for a in chunk["artifacts"]]  # status: the first 100
    assert sum(a["size"] for a in manifest["artifacts"]) == len(DATA)
    stored = sorted(o for o in _objects(client, s3_server.bucket, f"{base}chunk/") if not o.endswith(".manifest.json"))
    assert stored == sorted(listed)  # one attempt's objects, no stray copy
    assert chunk["artifactBytes"] == len(DATA)
    summary = _sum_of(kube, status)
    assert summary["count"] == len(NUMBERS) and summary["sum"] == sum(NUMBERS)
