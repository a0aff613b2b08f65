"""Carry a reused node's artifacts into a new run (`spec.reuse`): server-side copies and a manifest of its own.

Blocking minio calls (run in a thread). The old attempt's manifest (checked against the old Workflow's uid) names
the objects; each is copied inside the store (`copy_object`: no bytes through the operator) to the new run's
prefix, attempt 0 (a reused node ran no attempt in the new run, so no later attempt's keys collide), and the
new manifest, for the new Workflow's uid, is written last. Idempotent: the keys are a function of (new run,
node, name), so a restart in between copies and writes the same again. The new run owns its copies: the old
Workflow's `artifactGC` cannot take them away, and stage-in's uid check holds.
"""

from __future__ import annotations

import io

from minio import Minio
from minio.commonconfig import CopySource

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.reader import read_manifest
from switchyard.artifacts.trouble import StagingFailure, classify

REUSED_ATTEMPT = 0


def carry(
    client: Minio, bucket: str, old_key: str, old_uid: str, new_workflow_prefix: str, new_uid: str, node: str
) -> tuple[mf.Manifest, str]:
    """(the new manifest, its key) for `node` of the new run, its objects copied from the old attempt's
    manifest at `old_key`. StagingFailure: ArtifactMissing / ArtifactCorrupt (the old objects or manifest are
    gone or not the old run's: the node cannot be reused), ArtifactStoreUnavailable (try again later)."""
    old = read_manifest(client, bucket, old_key, old_uid)
    prefix = mf.attempt_prefix(new_workflow_prefix, node, REUSED_ATTEMPT)
    entries = []
    for entry in old.entries:
        key = mf.file_key(prefix, mf.check_name(entry.name))
        try:
            client.copy_object(bucket, key, CopySource(bucket, entry.key))
        except Exception as exc:
            failure = classify(exc)
            raise StagingFailure(failure.reason, f"{entry.key}: {failure.detail}") from exc
        entries.append(mf.Entry(entry.name, key, entry.size, entry.digest))
    manifest = mf.Manifest(new_uid, node, REUSED_ATTEMPT, tuple(entries))
    data = manifest.dumps()
    key = mf.manifest_key(prefix)
    try:
        client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json")
    except Exception as exc:
        failure = classify(exc)
        raise StagingFailure(failure.reason, f"{key}: {failure.detail}") from exc
    return manifest, key


__all__ = ["REUSED_ATTEMPT", "carry"]
