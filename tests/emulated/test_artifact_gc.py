"""`Workflow.spec.artifactGC` against the real operator, the local runner and the real S3 server (moto).

An operator of its own (namespaces `gc-*`) sweeps its stores every second: the outputs of a deleted Workflow
with the default `OnWorkflowDeletion` go, those of one with `Never` stay, the user's input object always
stays; a store that is down while a Workflow is deleted does not hold the deletion up, and the outputs go
once it is back.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import pytest
from minio import Minio

from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.s3server import S3Server
from switchyard.sandbox.waiting import wait_for
from tests.emulated.conftest import GROUP, VERSION, Kube, new_namespace
from tests.emulated.storehelpers import make_store, put

pytestmark = pytest.mark.emulated
NODES = [{"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 100}}]
DELETION_BOUND = 15.0  # seconds: a Workflow's deletion never waits for its store (README: Garbage collection)


@pytest.fixture(scope="module")
def gc_operator(kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("gc-operator") / "operator.log"
    args = ("--store-check-interval", "1", "--store-check-backoff-max", "1", "--artifact-gc-interval", "1")
    proc = OperatorProcess(kubeconfig, log, namespaces=("gc-*",), extra_args=args).start()
    proc.wait_ready()
    yield proc
    assert proc.alive, f"the operator died:\n{proc.log()[-4000:]}"
    proc.stop()


@pytest.fixture
def gc_kube(kubeconfig: pathlib.Path, gc_operator: OperatorProcess) -> Kube:
    return Kube(kubeconfig, new_namespace(kubeconfig, "gc"))


def _objects(client: Minio, bucket: str, prefix: str) -> list[str]:
    return [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True)]


def _run(kube: Kube, name: str, *, gc: str | None = None) -> str:
    """Run a one-node Workflow to Succeeded; the prefix of its outputs (with the uid)."""
    spec = {"input": {"artifact": {"key": "inputs/gc.txt"}}, "nodes": NODES}
    if gc is not None:
        spec["artifactGC"] = gc
    kube.create("Workflow", name, spec)
    status = kube.wait_phase(name, "Succeeded", "Failed", timeout=120)
    assert status["phase"] == "Succeeded", status
    uid = kube.get("Workflow", name)["metadata"]["uid"]
    return f"workflows/{kube.namespace}/{name}/{uid}/"


def _delete(kube: Kube, name: str) -> None:
    kube.custom.delete_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflows", name)


def _gone(kube: Kube, name: str) -> bool:
    return not any(
        w["metadata"]["name"] == name
        for w in kube.custom.list_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflows")["items"]
    )


def test_deleted_outputs_go_unless_never_and_inputs_stay(
    gc_kube: Kube, s3_server: S3Server, kubeconfig: pathlib.Path
) -> None:
    client = make_store(gc_kube, s3_server)
    put(client, s3_server.bucket, "inputs/gc.txt", b"z" * 450)
    with LocalJobRunner(kubeconfig, namespace=gc_kube.namespace, workers=2) as runner:
        collected = _run(gc_kube, "collected")
        kept = _run(gc_kube, "kept", gc="Never")
    assert not runner.errors
    assert gc_kube.get("Workflow", "collected")["spec"]["artifactGC"] == "OnWorkflowDeletion"  # the default
    assert len(_objects(client, s3_server.bucket, collected)) == 6  # 5 chunks and the manifest
    assert f"{kept}.retain" in _objects(client, s3_server.bucket, kept)
    _delete(gc_kube, "collected")
    _delete(gc_kube, "kept")
    wait_for(lambda: _gone(gc_kube, "collected") and _gone(gc_kube, "kept"), DELETION_BOUND, what="both deleted")
    wait_for(lambda: not _objects(client, s3_server.bucket, collected), 30, what="the collected outputs gone")
    # the sweep that took `collected` decided `kept` as well (both were gone before it listed the store)
    assert len(_objects(client, s3_server.bucket, kept)) == 7  # 5 chunks, the manifest, the marker
    assert _objects(client, s3_server.bucket, "inputs/gc.txt") == ["inputs/gc.txt"]  # the user's own object


def test_a_store_down_at_deletion_neither_blocks_it_nor_keeps_the_outputs(
    gc_kube: Kube, s3_server: S3Server, kubeconfig: pathlib.Path
) -> None:
    client = make_store(gc_kube, s3_server)
    put(client, s3_server.bucket, "inputs/gc.txt", b"z" * 450)
    with LocalJobRunner(kubeconfig, namespace=gc_kube.namespace, workers=2) as runner:
        prefix = _run(gc_kube, "outage")
    assert not runner.errors
    assert _objects(client, s3_server.bucket, prefix)
    s3_server.down()
    try:
        started = time.monotonic()
        _delete(gc_kube, "outage")
        wait_for(lambda: _gone(gc_kube, "outage"), DELETION_BOUND, what="the Workflow deleted while its store is down")
        assert time.monotonic() - started < DELETION_BOUND
        wait_for(lambda: (c := _ready(gc_kube)) is not None and c["status"] == "False", 20, what="the store seen down")
    finally:
        s3_server.up()
    wait_for(lambda: not _objects(client, s3_server.bucket, prefix), 30, what="the outputs gone once the store is back")
    assert _objects(client, s3_server.bucket, "inputs/gc.txt") == ["inputs/gc.txt"]


def _ready(kube: Kube) -> dict[str, object] | None:
    store = kube.custom.get_namespaced_custom_object(GROUP, VERSION, kube.namespace, "artifactstores", "default")
    return next((c for c in (store.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
