"""A node's artifacts for the UI's node panel: listed and downloaded as `switchyard artifacts get
WORKFLOW/NODE/NAME` does, blocking calls (the server runs them in its threads).

The Workflow's ArtifactStore (`spec.artifactStore`, else `default`) and its credentials Secret are read with the
caller's own credentials (`Kube`: the kubeconfig, or in a cluster the user's bearer token), so Kubernetes RBAC
decides and a 403 comes back as such; the object is then read from S3 in chunks, never whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from minio import Minio
from minio.error import S3Error

from switchyard.artifacts.reader import read_manifest
from switchyard.artifacts.store import StoreError, StoreSpec, describe_connection_error, from_objects, make_client
from switchyard.artifacts.trouble import StagingFailure, is_missing
from switchyard.models.artifactstore import DEFAULT_STORE
from switchyard.ui.kube import Kube, KubeError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Store:
    name: str
    spec: StoreSpec
    client: Minio


@dataclass
class Opened:
    """One artifact being read: what was recorded of it (to check the bytes against) and its chunks."""

    name: str
    size: int | None
    digest: str | None
    chunks: Iterator[bytes]
    close: Callable[[], None]


def node_status(workflow: dict[str, Any], node: str) -> dict[str, Any]:
    status = ((workflow.get("status") or {}).get("nodes") or {}).get(node)
    if status is None:
        raise KubeError(404, f"workflow {workflow['metadata']['name']} has no node {node!r} (yet)")
    return dict(status)


def open_store(kube: Kube, workflow: dict[str, Any]) -> Store:
    """The Workflow's ArtifactStore and a client for it; its Secret read with the caller's credentials."""
    namespace = workflow["metadata"]["namespace"]
    name = str((workflow.get("spec") or {}).get("artifactStore") or DEFAULT_STORE)
    store = kube.artifact_store(namespace, name)
    ref = ((store.get("spec") or {}).get("s3") or {}).get("credentialsSecretRef") or {}
    secret = kube.secret(namespace, str(ref.get("name") or ""))
    try:
        spec, credentials = from_objects(store, secret)
    except StoreError as error:
        raise KubeError(409, f"ArtifactStore {name}: {error.message}") from error
    return Store(name, spec, make_client(spec, credentials, retries=3))


def _store_failure(store: Store, what: str, error: Exception) -> KubeError:
    where = f"store {store.name} (bucket {store.spec.bucket} at {store.spec.endpoint})"
    if isinstance(error, S3Error):
        return KubeError(404 if is_missing(error) else 502, f"{what}: {where} answered {error.code}: {error.message}")
    return KubeError(502, f"{what}: {where} is unreachable: {describe_connection_error(error)}")


def recorded(kube: Kube, workflow: dict[str, Any], node: str, store: Store | None = None) -> list[dict[str, Any]]:
    """The node's artifacts: `status.nodes[N].artifacts`, else (a compact status lists none) the succeeding
    attempt's manifest in the store, named by `artifactManifest`."""
    status = node_status(workflow, node)
    artifacts = [a for a in status.get("artifacts") or [] if isinstance(a, dict)]
    manifest = status.get("artifactManifest")
    if artifacts or not manifest:
        return artifacts
    store = store or open_store(kube, workflow)
    uid = str(workflow["metadata"].get("uid") or "")
    try:
        return [entry.wire() for entry in read_manifest(store.client, store.spec.bucket, str(manifest), uid).entries]
    except StagingFailure as failure:
        raise KubeError(502, f"manifest of node {node}: {failure.reason}: {failure}") from failure


def open_artifact(kube: Kube, workflow: dict[str, Any], node: str, name: str) -> Opened:
    """The recorded artifact `name` of `node`, open for reading in chunks (call `close` when done)."""
    store = open_store(kube, workflow)
    for artifact in recorded(kube, workflow, node, store):
        if artifact.get("name") == name:
            break
    else:
        raise KubeError(404, f"node {node} has no artifact {name!r}")
    key = str(artifact["key"])
    try:
        response = store.client.get_object(store.spec.bucket, key)
    except (S3Error, urllib3.exceptions.HTTPError, OSError) as error:
        raise _store_failure(store, f"get {key}", error) from error

    def close() -> None:
        response.close()
        response.release_conn()

    size = artifact.get("size")
    return Opened(
        name,
        int(size) if size is not None else None,
        str(artifact["digest"]) if artifact.get("digest") else None,
        response.stream(CHUNK_BYTES),
        close,
    )
