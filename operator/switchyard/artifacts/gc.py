"""Artifact garbage collection: the output objects of Workflows that no longer exist are deleted.

A sweep of one store and namespace lists the incarnations under `<prefix>workflows/<namespace>/<workflow>/<uid>/`
(`artifacts.keys`) first and asks which Workflow uids exist only after that, so an incarnation listed is either
alive in the second answer or gone for good (uids are never reused): a Workflow created during the sweep is
never collected. Only that area is touched, never a user's own keys; an incarnation holding the marker
object `.retain` (a Workflow with `artifactGC: Never`) is kept. Blocking minio calls: run in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from switchyard.artifacts import keys
from switchyard.artifacts.store import StoreSpec

RETAIN_MARKER = ".retain"
NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})


@dataclass(frozen=True)
class Incarnation:
    workflow: str
    uid: str
    prefix: str  # ends with '/'


class CollectError(Exception):
    """The store refused to delete some objects (the sweep tries again next time)."""


def retain_key(spec: StoreSpec, namespace: str, workflow: str, uid: str) -> str:
    """The marker that keeps an incarnation's objects (written for a Workflow with `artifactGC: Never`)."""
    return keys.workflow_prefix(spec, namespace, workflow, uid) + RETAIN_MARKER


def _children(client: Minio, bucket: str, prefix: str) -> list[str]:
    """The 'directories' right under `prefix` (a delimiter listing)."""
    return [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=False) if o.is_dir]


def incarnations(client: Minio, spec: StoreSpec, namespace: str) -> list[Incarnation]:
    """Every (workflow, uid) that has objects in this store, for `namespace`."""
    base = keys.prefixed(spec, f"{keys.WORKFLOWS}/{namespace}/")
    found = []
    for workflow_dir in _children(client, spec.bucket, base):
        workflow = workflow_dir[len(base) :].rstrip("/")
        for uid_dir in _children(client, spec.bucket, workflow_dir):
            found.append(Incarnation(workflow, uid_dir[len(workflow_dir) :].rstrip("/"), uid_dir))
    return found


def retained(client: Minio, spec: StoreSpec, incarnation: Incarnation) -> bool:
    try:
        client.stat_object(spec.bucket, incarnation.prefix + RETAIN_MARKER)
    except S3Error as error:
        if error.code in NOT_FOUND:
            return False
        raise
    return True


def delete_prefix(client: Minio, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix` (batched DeleteObjects); how many. CollectError if some were refused."""
    names = [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True)]
    errors = list(client.remove_objects(bucket, (DeleteObject(name) for name in names)))
    if errors:
        first = errors[0]
        raise CollectError(f"{len(errors)} objects under {prefix} not deleted: {first.code} {first.message}")
    return len(names)


def collect(
    client: Minio, spec: StoreSpec, listed: Iterable[Incarnation], live_uids: set[str]
) -> list[tuple[Incarnation, int]]:
    """Delete the listed incarnations whose uid is not alive (and not retained): [(incarnation, objects)]."""
    done = []
    for incarnation in listed:
        if incarnation.uid in live_uids or retained(client, spec, incarnation):
            continue
        done.append((incarnation, delete_prefix(client, spec.bucket, incarnation.prefix)))
    return done
