"""`forEach.fromNode` over a dependency's output artifacts: one instance per artifact (the chunks of the built-in
`chunking-processor`), its item the artifact's JSON (name, key, size, digest) and its bytes at `item.data`,
staged and verified like upstream artifacts. The real operator, the local runner (real processes through
stage-in and stage-out) and the real S3 server."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from minio import Minio

from switchyard.artifacts import manifest as mf
from switchyard.logic import naming
from switchyard.models.workflow import MAX_FOREACH_ITEMS
from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube
from tests.emulated.storehelpers import make_store
from tests.emulated.storehelpers import put as _put

pytestmark = pytest.mark.emulated


@pytest.fixture
def runner(kubeconfig: pathlib.Path, namespace: str, running_operator: Any) -> Iterator[LocalJobRunner]:
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=3) as job_runner:
        yield job_runner
    assert not job_runner.errors


@pytest.fixture
def store(kube: Kube, s3_server: S3Server) -> Minio:
    return make_store(kube, s3_server)


def test_one_instance_per_chunk_with_its_bytes_at_item_data(
    kube: Kube, store: Minio, s3_server: S3Server, runner: LocalJobRunner
) -> None:
    numbers = list(range(1, 3001))
    data = "".join(f"{n}\n" for n in numbers).encode()
    _put(store, s3_server.bucket, "inputs/numbers.txt", data)
    nodes = [
        {"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 4000, "lines": True}},
        {
            "name": "sum",
            "component": "numeric-processor",
            "dependsOn": ["chunk"],
            "config": {"from": "item"},
            "forEach": {"fromNode": "chunk", "maxParallel": 3},
        },
    ]
    kube.create("Workflow", "chunks", {"input": {"artifact": {"key": "inputs/numbers.txt"}}, "nodes": nodes})
    status = kube.wait_phase("chunks", "Succeeded", "Failed", timeout=180)
    assert status["phase"] == "Succeeded", status.get("message")
    chunks = status["nodes"]["chunk"]["artifacts"]
    count = len(chunks)
    assert count == len(data) // 4000 + 1 and count > 2
    assert status["nodes"]["sum"]["progress"] == f"{count}/{count}"
    shards = naming.output_shards(2 + 2 * MAX_FOREACH_ITEMS)
    outputs: dict[str, str] = {}
    for cm in {naming.output_configmap("chunks", k, shards) for k in ["sum", *(f"sum.{i}.item" for i in range(count))]}:
        outputs.update(kube.configmap(cm))
    for i, artifact in enumerate(chunks):  # the item: the artifact as the manifest records it, in name order
        item = json.loads(outputs[f"sum.{i}.item"])
        assert item == {k: artifact[k] for k in ("name", "key", "size", "digest")}
        assert item["name"] == f"chunk-{i:05d}"
        body = store.get_object(s3_server.bucket, item["key"]).read()
        assert item["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    results = json.loads(outputs["sum"])  # each instance summed its own chunk (item.data), in index order
    assert [r["totalBytes"] for r in results] == [a["size"] for a in chunks]
    assert sum(r["count"] for r in results) == len(numbers)
    assert sum(r["sum"] for r in results) == sum(numbers)
    stage_in = [j.spec.template.spec.init_containers[0].args for j in kube.jobs() if "-sum-" in j.metadata.name]
    assert len(stage_in) == count and all("--item-data" in args for args in stage_in)


def test_stage_in_fetches_the_item_artifact_verified(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    from tests.emulated.test_staging import UID, _client, _stage, _upload_outputs

    key = _upload_outputs(s3_server, tmp_path / "a", "a", {"chunk-00001": b"2\n3\n"})
    client = _client(s3_server)
    entry = mf.loads(client.get_object(s3_server.bucket, key).read()).entries[0]
    item = json.dumps(entry.wire())
    down = tmp_path / "b"
    (down / "switchyard-meta").mkdir(parents=True)
    (down / "switchyard-meta" / "item").write_text(item)
    args = ["in", "--workflow-uid", UID, "--item-data", entry.key, "--item-size", str(entry.size)]
    code, message = _stage(s3_server, down, *args, "--item-digest", entry.digest)
    assert code == 0, message
    assert (down / "switchyard" / "item").read_text() == item
    assert (down / "switchyard" / "item.data").read_bytes() == b"2\n3\n"
    evil = b"9\n9\n9\n"
    client.put_object(s3_server.bucket, entry.key, io.BytesIO(evil), len(evil))
    code, message = _stage(s3_server, tmp_path / "c", *args, "--item-digest", entry.digest)
    assert code == 1 and message.startswith("ArtifactCorrupt: ")
    assert not (tmp_path / "c" / "switchyard" / "item.data").exists()  # never passed on
