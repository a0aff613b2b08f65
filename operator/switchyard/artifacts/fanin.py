"""The fan-in manifest: which instances of a forEach dependency passed artifacts, and where their manifests are.

Pure (no store I/O). A forEach node may have 10,000 instances, so a fan-in node's Pod spec never names them one
by one: before its Job is created the operator writes one object per forEach dependency (`k8s.artifactrun`)
listing, in index order, each succeeded instance whose attempt wrote a manifest (its index and the manifest's
key), and stage-in gets its key in one argument (`--fan-in NODE=KEY`). The key is a function of (fan-in node,
attempt, dependency), under the fan-in attempt's prefix (beside its outputs, not among them), so writing it
again after a restart only rewrites it: `<workflow prefix><node>/<attempt>.fanin/<dependency>.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from switchyard.artifacts.manifest import ManifestError

FAN_IN_SUFFIX = ".fanin"
FAN_IN_VERSION = 1
KIND = "FanIn"


@dataclass(frozen=True)
class FanIn:
    """The fan-in manifest of one (fan-in node, attempt, forEach dependency): (index, manifest key) pairs."""

    workflow_uid: str
    node: str
    attempt: int
    dependency: str
    instances: tuple[tuple[int, str], ...]

    def dumps(self) -> bytes:
        body = {
            "version": FAN_IN_VERSION,
            "kind": KIND,
            "workflowUid": self.workflow_uid,
            "node": self.node,
            "attempt": self.attempt,
            "dependency": self.dependency,
            "instances": [{"index": i, "manifest": key} for i, key in self.instances],
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def fan_in_key(attempt_key_prefix: str, dependency: str) -> str:
    """The fan-in manifest's key for `dependency` of the attempt at `attempt_key_prefix`
    (`manifest.attempt_prefix`)."""
    return f"{attempt_key_prefix}{FAN_IN_SUFFIX}/{dependency}.json"


def build(workflow_uid: str, node: str, attempt: int, dependency: str, instances: Sequence[tuple[int, str]]) -> FanIn:
    """The fan-in manifest, its instances in index order (each index once)."""
    ordered = tuple(sorted(dict(instances).items()))
    return FanIn(workflow_uid, node, attempt, dependency, ordered)


def loads(data: bytes, *, workflow_uid: str | None = None, dependency: str | None = None) -> FanIn:
    """Parse a fan-in manifest; ManifestError when garbled, or (with `workflow_uid` / `dependency`) written for
    another Workflow or another dependency."""
    try:
        body = json.loads(data)
        if body.get("kind") != KIND:
            raise ValueError(f"kind is {body.get('kind')!r}, not {KIND!r}")
        instances = tuple((int(x["index"]), str(x["manifest"])) for x in body["instances"])
        uid, node, attempt = str(body["workflowUid"]), str(body["node"]), int(body["attempt"])
        fan_in = FanIn(uid, node, attempt, str(body["dependency"]), instances)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"the fan-in manifest is not readable: {exc}") from exc
    indices = [i for i, _ in instances]
    if any(i < 0 for i in indices) or indices != sorted(set(indices)):
        raise ManifestError("the fan-in manifest's indices are not distinct, non-negative and in order")
    if workflow_uid is not None and fan_in.workflow_uid != workflow_uid:
        raise ManifestError(f"the fan-in manifest belongs to another Workflow (uid {fan_in.workflow_uid})")
    if dependency is not None and fan_in.dependency != dependency:
        raise ManifestError(f"the fan-in manifest is of node {fan_in.dependency!r}, not {dependency!r}")
    return fan_in


__all__ = ["FAN_IN_SUFFIX", "FanIn", "build", "fan_in_key", "loads"]
