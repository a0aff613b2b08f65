"""What the operator itself reads from a store (blocking minio calls: run them in a thread).

`read_manifest` fetches an attempt's manifest (ArtifactMissing when absent: the upload never completed);
`peek` gives an input artifact's size, content type and first bytes (a ranged GET), for routing.
"""

from __future__ import annotations

from dataclasses import dataclass

from minio import Minio

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.trouble import StagingFailure, classify, is_missing

PEEK_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 16 << 20  # 10,000 chunks x ~200 bytes; more is not a manifest


@dataclass(frozen=True)
class Peek:
    size: int
    content_type: str | None
    head: bytes
    etag: str | None = None


def read_manifest(client: Minio, bucket: str, key: str, workflow_uid: str) -> mf.Manifest:
    """The manifest at `key`; StagingFailure with ArtifactMissing / ArtifactCorrupt / ArtifactStoreUnavailable."""
    try:
        response = client.get_object(bucket, key, length=MAX_MANIFEST_BYTES)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
    except Exception as exc:
        failure = classify(exc)
        if is_missing(exc):
            raise StagingFailure(mf.ARTIFACT_MISSING, f"no manifest at {key}: the upload did not complete") from exc
        raise StagingFailure(failure.reason, failure.detail) from exc
    try:
        return mf.loads(data, workflow_uid=workflow_uid)
    except mf.ManifestError as exc:
        raise StagingFailure(mf.ARTIFACT_CORRUPT, f"{key}: {exc}") from exc


def peek(client: Minio, bucket: str, key: str, limit: int = PEEK_BYTES) -> Peek:
    """Size and content type (HEAD) and at most `limit` first bytes (a ranged GET) of an object.

    Raises the client's errors (`trouble.is_missing` tells a missing object)."""
    stat = client.stat_object(bucket, key)
    size = int(stat.size or 0)
    head = b""
    if size:
        response = client.get_object(bucket, key, offset=0, length=min(limit, size))
        try:
            head = response.read()
        finally:
            response.close()
            response.release_conn()
    return Peek(size, stat.content_type, head, stat.etag)
