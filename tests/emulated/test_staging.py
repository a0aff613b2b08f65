"""The staging steps as real processes against the real S3 server (moto) through the real client (minio).

No operator: `python -m switchyard.artifacts.stage` is run the way a Pod's stage-in and stage-out containers
run it, on a directory laid out as the Pod's volumes are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
from minio import Minio

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.location import ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_STORE, store_env
from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.sandbox.s3server import S3Server
from switchyard.sandbox.waiting import wait_for

pytestmark = pytest.mark.emulated
UID = "uid-staging"


def _env(server: S3Server, root: pathlib.Path, *, secret: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        ENV_STORE: store_env(_spec(server)),
        ENV_ACCESS_KEY: server.access_key,
        ENV_SECRET_KEY: secret if secret is not None else server.secret_key,
        "SWITCHYARD_ROOT": str(root / "switchyard"),
        "SWITCHYARD_TERMINATION_LOG": str(root / "termination-log"),
    }


def _stage(server: S3Server, root: pathlib.Path, *args: str, secret: str | None = None) -> tuple[int, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "termination-log").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "switchyard.artifacts.stage", *args],
        env=_env(server, root, secret=secret),
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, (root / "termination-log").read_text()


def _spec(server: S3Server) -> StoreSpec:
    return StoreSpec.model_validate(
        {
            "endpoint": server.host,
            "bucket": server.bucket,
            "region": server.region,
            "insecure": True,
            "credentialsSecretRef": {"name": "store"},
        }
    )


def _client(server: S3Server) -> Minio:
    return make_client(_spec(server), Credentials(server.access_key, server.secret_key))


def _upload_outputs(server: S3Server, root: pathlib.Path, node: str, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        path = root / "switchyard" / "outputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    prefix = mf.attempt_prefix("t/workflows/ns/wf/uid/", node, 1)
    args = ["out", "--no-wait", "--workflow-uid", UID, "--node", node, "--attempt", "1", "--prefix", prefix]
    code, message = _stage(server, root, *args)
    assert code == 0, message
    return mf.manifest_key(prefix)


def test_outputs_go_up_with_a_manifest_last_and_come_down_verified(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    files = {"chunk-00000": b"hello ", "chunk-00001": b"world", "part/deep/x.csv": b"a,b\n1,2\n"}
    key = _upload_outputs(s3_server, tmp_path / "a", "a", files)
    manifest = mf.loads(_client(s3_server).get_object(s3_server.bucket, key).read(), workflow_uid=UID)
    assert {e.name: (e.size, e.digest) for e in manifest.entries} == {
        name: (len(data), "sha256:" + hashlib.sha256(data).hexdigest()) for name, data in files.items()
    }
    # Downstream: a node laid out by stage-in sees them at upstream/a/<name>, its result beside the directory.
    down = tmp_path / "b"
    meta = down / "switchyard-meta"
    (meta / "upstream").mkdir(parents=True)
    (meta / "upstream" / "a").write_text('{"chunks": 2}')
    (meta / "config.json").write_text('{"x": 1}')
    (meta / "input").write_text("inline input")
    code, message = _stage(s3_server, down, "in", "--workflow-uid", UID, "--upstream", f"a={key}", "--upstream", "c=")
    assert code == 0, message
    tree = down / "switchyard"
    for name, data in files.items():
        assert (tree / "upstream" / "a" / name).read_bytes() == data
    assert (tree / "upstream" / "a.result.json").read_text() == '{"chunks": 2}'
    assert (tree / "config.json").read_text() == '{"x": 1}'
    assert (tree / "input").read_text() == "inline input"


def test_a_dependency_that_wrote_no_files_passes_its_result_as_a_file(
    s3_server: S3Server, tmp_path: pathlib.Path
) -> None:
    key = _upload_outputs(s3_server, tmp_path / "a", "a", {})
    down = tmp_path / "b"
    (down / "switchyard-meta" / "upstream").mkdir(parents=True)
    (down / "switchyard-meta" / "upstream" / "a").write_text('{"count": 3}')
    code, message = _stage(s3_server, down, "in", "--workflow-uid", UID, "--upstream", f"a={key}")
    assert code == 0, message
    assert (down / "switchyard" / "upstream" / "a").read_text() == '{"count": 3}'  # the processors' result shape


def test_a_corrupted_object_fails_stage_in_as_artifact_corrupt(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    key = _upload_outputs(s3_server, tmp_path / "a", "a", {"data": b"the original bytes"})
    client = _client(s3_server)
    entry = mf.loads(client.get_object(s3_server.bucket, key).read()).entries[0]
    evil = b"the tampered bytes!"
    client.put_object(s3_server.bucket, entry.key, io.BytesIO(evil), len(evil))
    code, message = _stage(s3_server, tmp_path / "b", "in", "--workflow-uid", UID, "--upstream", f"a={key}")
    assert code == 1
    assert message.startswith("ArtifactCorrupt: ")
    assert not (tmp_path / "b" / "switchyard" / "upstream" / "a" / "data").exists()  # never passed on


def test_a_missing_object_is_artifact_missing(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    code, message = _stage(s3_server, tmp_path, "in", "--workflow-uid", UID, "--input-key", "no/such/object")
    assert code == 1
    assert message.startswith("ArtifactMissing: NoSuchKey")


def test_a_store_that_is_down_or_refuses_the_key_is_unavailable(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    code, message = _stage(s3_server, tmp_path, "in", "--workflow-uid", UID, "--input-key", "x", secret="wrong")
    assert code == 1 and message.startswith("ArtifactStoreUnavailable: "), message
    assert "wrong" not in message
    s3_server.down()
    code, message = _stage(s3_server, tmp_path, "in", "--workflow-uid", UID, "--input-key", "x")
    assert code == 1 and message.startswith("ArtifactStoreUnavailable: "), message


def test_stage_out_enforces_the_per_node_cap_and_writes_no_manifest(
    s3_server: S3Server, tmp_path: pathlib.Path
) -> None:
    outputs = tmp_path / "switchyard" / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "big").write_bytes(b"x" * 2000)
    prefix = mf.attempt_prefix("cap/", "a", 1)
    args = ["out", "--no-wait", "--workflow-uid", UID, "--node", "a", "--attempt", "1", "--prefix", prefix]
    code, message = _stage(s3_server, tmp_path, *args, "--max-bytes", "1000")
    assert code == 1 and message.startswith("OutputTooLarge: the node wrote 2000 bytes"), message
    assert not list(_client(s3_server).list_objects(s3_server.bucket, prefix=prefix + "/", recursive=True))


def _catches_sigterm(pid: int) -> bool:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_stage_out_uploads_only_after_sigterm(s3_server: S3Server, tmp_path: pathlib.Path) -> None:
    outputs = tmp_path / "switchyard" / "outputs"
    outputs.mkdir(parents=True)
    (tmp_path / "termination-log").write_text("")
    prefix = mf.attempt_prefix("sig/", "a", 1)
    args = ["out", "--workflow-uid", UID, "--node", "a", "--attempt", "1", "--prefix", prefix]
    proc = subprocess.Popen([sys.executable, "-m", "switchyard.artifacts.stage", *args], env=_env(s3_server, tmp_path))
    try:
        (outputs / "late").write_bytes(b"written while the sidecar waits")
        client = _client(s3_server)
        assert not list(client.list_objects(s3_server.bucket, prefix=prefix + "/", recursive=True))
        wait_for(lambda: _catches_sigterm(proc.pid), 30)  # as a startupProbe would wait for it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    body = json.loads(client.get_object(s3_server.bucket, mf.manifest_key(prefix)).read())
    assert [a["name"] for a in body["artifacts"]] == ["late"]
