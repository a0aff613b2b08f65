"""Artifact download from the UI's node panel in real headless Chromium, against the emulated cluster and the
real S3 server (moto): the bytes streamed as recorded, from a full status and from a compact one (the list read
from the manifest in the store), and a user who may not read the store's Secret sees the 403.

Each test has its own namespace, which no operator watches: the status is written here, as the operator writes
it once a node's attempt uploaded its outputs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import pathlib
from typing import Any

import pytest
from minio import Minio

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.s3server import S3Server
from tests.emulated import uikit
from tests.emulated.conftest import GROUP, VERSION, Kube, new_namespace

browser = uikit.browser
page = uikit.page
ui_url = uikit.ui_url
expect = uikit.expect
pytestmark = [pytest.mark.emulated, uikit.skip_without_chromium]


@pytest.fixture
def store_kube(kubeconfig: pathlib.Path, s3_server: S3Server) -> tuple[Kube, Minio]:
    """A namespace with a `default` ArtifactStore over the session's S3 server and its credentials Secret."""
    kube = Kube(kubeconfig, new_namespace(kubeconfig, "ua"))
    data = {"accessKeyId": s3_server.access_key, "secretAccessKey": s3_server.secret_key}
    kube.core.create_namespaced_secret(
        kube.namespace,
        {
            "metadata": {"name": "store-credentials"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )
    spec = {
        "endpoint": s3_server.host,
        "bucket": s3_server.bucket,
        "region": s3_server.region,
        "insecure": True,
        "credentialsSecretRef": {"name": "store-credentials"},
    }
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ArtifactStore", "metadata": {"name": "default"},
            "spec": {"s3": spec}}  # fmt: skip
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, "artifactstores", body)
    client = make_client(StoreSpec.model_validate(spec), Credentials(s3_server.access_key, s3_server.secret_key))
    return kube, client


def uploaded(client: Minio, bucket: str, key: str, data: bytes) -> dict[str, Any]:
    client.put_object(bucket, key, io.BytesIO(data), len(data))
    return {"name": key.rsplit("/", 1)[-1], "key": key, "size": len(data),
            "digest": f"sha256:{hashlib.sha256(data).hexdigest()}"}  # fmt: skip


def finished(kube: Kube, name: str, node_status: dict[str, Any]) -> None:
    kube.create("Workflow", name, {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}]})
    status = {"phase": "Succeeded", "progress": "1/1", "nodes": {"a": {"phase": "Succeeded", "attempts": 1,
              **node_status}}}  # fmt: skip
    kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, kube.namespace, "workflows", name,
                                                      {"status": status})  # fmt: skip


def open_node(page: Any, ui_url: str, namespace: str, workflow: str) -> Any:
    page.goto(f"{ui_url}/workflows/{namespace}/{workflow}")
    page.locator("#node-list button[data-node=a]").click()
    return page.locator("#panel")


def test_a_node_artifact_downloads_from_the_panel(
    page: Any, ui_url: str, store_kube: tuple[Kube, Minio], s3_server: S3Server, tmp_path: pathlib.Path
) -> None:
    kube, client = store_kube
    data = bytes(range(256)) * 12_000  # 3 MB: several chunks through the stream
    artifact = uploaded(client, s3_server.bucket, f"{kube.namespace}/full/a/out.bin", data)
    finished(kube, "full", {"artifacts": [artifact], "artifactBytes": len(data)})
    panel = open_node(page, ui_url, kube.namespace, "full")
    expect(panel.locator("#artifacts li[data-artifact='out.bin']")).to_contain_text("3072000 bytes")
    with page.expect_download() as download_info:
        panel.locator("button.download").click()
    download = download_info.value
    assert download.suggested_filename == "out.bin"
    target = tmp_path / "out.bin"
    download.save_as(str(target))
    assert target.read_bytes() == data


def test_a_compact_status_lists_the_artifacts_from_the_manifest(
    page: Any, ui_url: str, store_kube: tuple[Kube, Minio], s3_server: S3Server, tmp_path: pathlib.Path
) -> None:
    kube, client = store_kube
    kube.create("Workflow", "compact", {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}]})
    uid = kube.get("Workflow", "compact")["metadata"]["uid"]
    entries = [uploaded(client, s3_server.bucket, f"{kube.namespace}/compact/a/part-{i}.txt", f"part {i}\n".encode())
               for i in range(3)]  # fmt: skip
    manifest = mf.Manifest(uid, "a", 1, tuple(mf.Entry(**e) for e in entries))
    key = f"{kube.namespace}/compact/a/manifest.json"
    body = manifest.dumps()
    client.put_object(s3_server.bucket, key, io.BytesIO(body), len(body))
    status = {"phase": "Succeeded", "nodes": {"a": {"phase": "Succeeded", "attempts": 1, "artifactManifest": key}}}
    kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, kube.namespace, "workflows", "compact",
                                                      {"status": status})  # fmt: skip
    panel = open_node(page, ui_url, kube.namespace, "compact")
    expect(panel.locator("#artifacts li")).to_have_count(3)
    with page.expect_download() as download_info:
        panel.locator("#artifacts li[data-artifact='part-2.txt'] button.download").click()
    target = tmp_path / "part-2.txt"
    download_info.value.save_as(str(target))
    assert target.read_bytes() == b"part 2\n"


def test_a_user_who_may_not_read_the_secret_sees_the_403(
    page: Any,
    ui_url: str,
    store_kube: tuple[Kube, Minio],
    s3_server: S3Server,
    emulated_cluster: EmulatedCluster,
) -> None:
    # The emulator enforces no RBAC: a real API server's answer to a user without `get` on the Secret is
    # injected as a fault on that very request (the UI makes it with the user's own credentials).
    kube, client = store_kube
    artifact = uploaded(client, s3_server.bucket, f"{kube.namespace}/denied/a/out.txt", b"secret stuff\n")
    finished(kube, "denied", {"artifacts": [artifact]})
    denied = (
        'secrets "store-credentials" is forbidden: User "viewer" cannot get resource "secrets" '
        f'in API group "" in the namespace "{kube.namespace}"'
    )
    fault = emulated_cluster.faults.inject(
        method="GET",
        path_regex=f"/namespaces/{kube.namespace}/secrets/store-credentials$",
        status=403,
        reason="Forbidden",
        message=denied,
        times=None,
    )
    try:
        panel = open_node(page, ui_url, kube.namespace, "denied")
        downloads: list[Any] = []
        page.on("download", lambda download: downloads.append(download))
        panel.locator("button.download").click()
        note = panel.locator("#artifacts li[data-artifact='out.txt'] .artifact-error")
        expect(note).to_contain_text("403 Forbidden")
        expect(note).to_contain_text('User "viewer" cannot get resource "secrets"')
        assert fault.hits >= 1
        assert downloads == []
    finally:
        emulated_cluster.faults.clear()


def test_bytes_unlike_the_recorded_digest_fail_the_download(
    page: Any, ui_url: str, store_kube: tuple[Kube, Minio], s3_server: S3Server
) -> None:
    kube, client = store_kube
    artifact = uploaded(client, s3_server.bucket, f"{kube.namespace}/changed/a/out.txt", b"first\n")
    uploaded(client, s3_server.bucket, artifact["key"], b"other\n")  # same size, other bytes
    finished(kube, "changed", {"artifacts": [artifact]})
    panel = open_node(page, ui_url, kube.namespace, "changed")
    with page.expect_download() as download_info:
        panel.locator("button.download").click()
    assert download_info.value.failure() is not None  # the last chunk is held back: never the whole file
