"""`switchyard artifacts put|get|ls` against the real S3 server through a namespace's ArtifactStore and Secret,
read with the caller's kubeconfig: round trip with digest, a corrupted object refused, WORKFLOW/NODE/NAME from a
Workflow's recorded artifacts, clear errors for a missing store or Secret."""

from __future__ import annotations

import hashlib
import io
import pathlib

import pytest
from minio import Minio

from switchyard.cli.main import main
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube, new_namespace
from tests.emulated.storehelpers import create_store

pytestmark = pytest.mark.emulated


@pytest.fixture
def quiet_kube(kubeconfig: pathlib.Path) -> Kube:
    """A namespace no operator watches: the Workflows written here keep the status the test gives them."""
    return Kube(kubeconfig, new_namespace(kubeconfig, "c"))


def cli(kubeconfig: pathlib.Path, kube: Kube, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--kubeconfig", str(kubeconfig), "-n", kube.namespace, "artifacts", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def s3(server: S3Server) -> Minio:
    return Minio(server.host, access_key=server.access_key, secret_key=server.secret_key, secure=False,
                 region=server.region)  # fmt: skip


def test_put_get_ls_round_trip_with_digest(
    kubeconfig: pathlib.Path,
    quiet_kube: Kube,
    s3_server: S3Server,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_store(quiet_kube, s3_server, prefix=f"{quiet_kube.namespace}/")
    data = bytes(range(256)) * (20 * 4096 + 3)  # ~20 MiB: a multipart upload
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    expected = "sha256:" + hashlib.sha256(data).hexdigest()

    code, out, err = cli(kubeconfig, quiet_kube, capsys, "put", str(source), "inputs/in.bin")
    assert code == 0, err
    assert out.split() == ["inputs/in.bin", str(len(data)), expected]
    # under the store's prefix, in the bucket
    assert s3(s3_server).stat_object(s3_server.bucket, f"{quiet_kube.namespace}/inputs/in.bin").size == len(data)

    target = tmp_path / "out" / "got.bin"
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "inputs/in.bin", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes() == data
    assert expected in err and "verified" in err

    code, out, _ = cli(kubeconfig, quiet_kube, capsys, "ls")
    assert code == 0
    row = next(line for line in out.splitlines() if "inputs/in.bin" in line)
    assert row.split()[:2] == ["inputs/in.bin", str(len(data))]


def test_get_refuses_an_object_that_does_not_match_its_digest(
    kubeconfig: pathlib.Path,
    quiet_kube: Kube,
    s3_server: S3Server,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_store(quiet_kube, s3_server, prefix=f"{quiet_kube.namespace}/")
    source = tmp_path / "in.txt"
    source.write_bytes(b"the real bytes")
    assert cli(kubeconfig, quiet_kube, capsys, "put", str(source), "x.txt")[0] == 0
    # the object changes behind our back, its recorded digest stays
    name = f"{quiet_kube.namespace}/x.txt"
    stat = s3(s3_server).stat_object(s3_server.bucket, name)
    recorded = {k.lower(): v for k, v in stat.metadata.items()}["x-amz-meta-sha256"]
    s3(s3_server).put_object(s3_server.bucket, name, io.BytesIO(b"other bytes!!!"), 14, metadata={"sha256": recorded})
    target = tmp_path / "got.txt"
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "x.txt", "-o", str(target))
    assert code == 1
    assert "does not match the recorded" in err
    assert not target.exists() and list(tmp_path.iterdir()) == [source]  # no partial file left either


def test_workflow_node_name_uses_the_recorded_artifacts(
    kubeconfig: pathlib.Path,
    quiet_kube: Kube,
    s3_server: S3Server,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_store(quiet_kube, s3_server)
    key = f"workflows/{quiet_kube.namespace}/wf/uid-1/chunk/1/chunk-00000"
    body = b"chunk zero\n"
    s3(s3_server).put_object(s3_server.bucket, key, io.BytesIO(body), len(body))
    good = {
        "name": "chunk-00000",
        "key": key,
        "size": len(body),
        "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
    }
    bad = {**good, "name": "lied", "digest": "sha256:" + "0" * 64}
    quiet_kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [{"name": "chunk", "component": "c"}]})
    quiet_kube.custom.patch_namespaced_custom_object_status(
        "switchyard.dev", "v1alpha1", quiet_kube.namespace, "workflows", "wf",
        {"status": {"nodes": {"chunk": {"phase": "Succeeded", "artifacts": [good, bad]}}}},
    )  # fmt: skip
    stored = quiet_kube.status("Workflow", "wf")["nodes"]["chunk"]
    assert [a["name"] for a in stored["artifacts"]] == [good["name"], bad["name"]]  # the CRD keeps them

    target = tmp_path / "chunk"
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "wf/chunk/chunk-00000", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes() == body
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "wf/chunk/lied", "-o", str(tmp_path / "lied"))
    assert code == 1 and "does not match the recorded" in err
    assert not (tmp_path / "lied").exists()
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "wf/chunk/absent")
    assert code == 1 and "has no artifact 'absent'" in err
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "get", "wf/no-such-node/x")  # not a node: a plain key
    assert code == 1 and "wf/no-such-node/x: no such object" in err

    code, out, _ = cli(kubeconfig, quiet_kube, capsys, "ls", "wf")
    assert code == 0
    row = next(line for line in out.splitlines() if "chunk-00000" in line)
    assert row.split() == ["chunk", "chunk-00000", str(len(body)), good["digest"], key]

    # `switchyard get` lists each node's artifacts after the tree
    capsys.readouterr()
    assert main(["--kubeconfig", str(kubeconfig), "-n", quiet_kube.namespace, "get", "wf"]) == 0
    shown = capsys.readouterr().out
    rows = [line.split() for line in shown.split("Artifacts", 1)[1].splitlines() if line.startswith("chunk")]
    assert rows == [
        ["chunk", "chunk-00000", str(len(body)), good["digest"]],
        ["chunk", "lied", str(len(body)), bad["digest"]],
    ]


def test_missing_store_and_missing_secret_are_clear_errors(
    kubeconfig: pathlib.Path, quiet_kube: Kube, s3_server: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "ls")
    assert code == 1 and "ArtifactStore default" in err and "not found" in err
    create_store(quiet_kube, s3_server, name="nosecret", secret=None)
    code, _, err = cli(kubeconfig, quiet_kube, capsys, "ls", "--store", "nosecret")
    assert code == 1 and "Secret 'store-credentials' not found" in err
