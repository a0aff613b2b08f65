"""Result cache entries in the store (blocking minio calls: run them in a thread).

An entry is the JSON object `<prefix>switchyard-cache/<namespace>/<key>.json` (`logic.cachekey`): the cached
run's full result, its artifacts and manifest key, and when it was made. `lookup` returns it only when it is
young enough and every object its manifest names is still there (an entry whose objects are gone, collected
with their Workflow, is a miss, never a failure); `copy_manifest` writes the manifest of the Job-less attempt
that takes it (this Workflow's uid, the cached objects' keys), so downstream stage-in reads it as its own.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minio import Minio

from switchyard.artifacts import keys
from switchyard.artifacts import manifest as mf
from switchyard.artifacts.store import StoreSpec
from switchyard.artifacts.trouble import is_missing

AREA = "switchyard-cache"
MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True)
class CacheEntry:
    result: str
    manifest: mf.Manifest
    created_at: datetime
    workflow: str
    node: str


def entry_key(spec: StoreSpec, namespace: str, key: str) -> str:
    return keys.prefixed(spec, f"{AREA}/{namespace}/{key}.json")


def _read(client: Minio, bucket: str, key: str) -> bytes | None:
    try:
        response = client.get_object(bucket, key, length=MAX_ENTRY_BYTES)
    except Exception as exc:
        if is_missing(exc):
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _exists(client: Minio, bucket: str, key: str) -> bool:
    try:
        client.stat_object(bucket, key)
    except Exception as exc:
        if is_missing(exc):
            return False
        raise
    return True


def lookup(
    client: Minio, spec: StoreSpec, namespace: str, key: str, now: datetime, max_age_seconds: int | None
) -> CacheEntry | None:
    """The entry for `key` when it is usable (young enough, all of its objects there); None: a miss. Store
    trouble raises (the caller runs the node instead)."""
    data = _read(client, spec.bucket, entry_key(spec, namespace, key))
    if data is None:
        return None
    try:
        body = json.loads(data)
        created = datetime.fromisoformat(body["createdAt"])
        manifest_data = _read(client, spec.bucket, body["artifactManifest"])
        if manifest_data is None:
            return None
        manifest = mf.loads(manifest_data)
        entry = CacheEntry(str(body["result"]), manifest, created, str(body["workflow"]), str(body["node"]))
    except (ValueError, KeyError, TypeError):  # not an entry of ours (or a garbled one): a miss
        return None
    if max_age_seconds is not None and now - created > timedelta(seconds=max_age_seconds):
        return None
    if not all(_exists(client, spec.bucket, e.key) for e in manifest.entries):
        return None
    return entry


def store(
    client: Minio,
    spec: StoreSpec,
    namespace: str,
    key: str,
    *,
    result: str,
    manifest_key: str,
    workflow: str,
    node: str,
    now: datetime,
) -> None:
    body: dict[str, Any] = {
        "key": key,
        "result": result,
        "artifactManifest": manifest_key,
        "workflow": workflow,
        "node": node,
        "createdAt": now.isoformat(),
    }
    data = json.dumps(body).encode()
    client.put_object(spec.bucket, entry_key(spec, namespace, key), io.BytesIO(data), len(data))


def copy_manifest(
    client: Minio, spec: StoreSpec, entry: CacheEntry, key: str, uid: str, node: str, attempt: int
) -> None:
    """The manifest at `key` of a Job-less attempt: this Workflow's, listing the cached run's objects."""
    data = mf.Manifest(uid, node, attempt, entry.manifest.entries).dumps()
    client.put_object(spec.bucket, key, io.BytesIO(data), len(data), content_type="application/json")
