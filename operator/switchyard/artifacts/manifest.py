"""The attempt manifest: which output files one (node, attempt) uploaded, and where, with sizes and digests.

Pure (no store I/O). Stage-out (`artifacts.stage`) writes the manifest object last, after every file, so its
presence means the upload is complete; the operator reads it when the node's main container exited 0 and
records exactly its entries on the node. Keys of an attempt live under its own prefix
(`artifacts.keys.workflow_prefix`), so a retried attempt never overwrites what another
attempt wrote: `<workflow prefix><node>/<attempt>/<name>` (`artifacts.keys`, the Workflow's uid included), the
manifest beside it at `<workflow prefix><node>/<attempt>.manifest.json`.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
DIGEST_PREFIX = "sha256:"
MAX_NAME_BYTES = 512  # an artifact's relative path (S3 keys are at most 1,024 bytes in all)

# Reasons a staging container reports (first word of its termination message) and the operator records.
ARTIFACT_CORRUPT = "ArtifactCorrupt"
ARTIFACT_MISSING = "ArtifactMissing"
STORE_UNAVAILABLE = "ArtifactStoreUnavailable"
OUTPUT_TOO_LARGE = "OutputTooLarge"
STAGING_REASONS = frozenset({ARTIFACT_CORRUPT, ARTIFACT_MISSING, STORE_UNAVAILABLE, OUTPUT_TOO_LARGE})
# Not the Component's fault: retried, never charged to its circuit breaker.
NOT_BLAMED = frozenset({ARTIFACT_CORRUPT, ARTIFACT_MISSING, STORE_UNAVAILABLE})


class ManifestError(ValueError):
    """A manifest object that is not one (garbled JSON, wrong shape, another Workflow's)."""


@dataclass(frozen=True)
class Entry:
    """One uploaded file: its name (relative path under outputs/), object key, size in bytes, `sha256:<hex>`."""

    name: str
    key: str
    size: int
    digest: str

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class Manifest:
    workflow_uid: str
    node: str
    attempt: int
    entries: tuple[Entry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def dumps(self) -> bytes:
        body = {
            "version": MANIFEST_VERSION,
            "workflowUid": self.workflow_uid,
            "node": self.node,
            "attempt": self.attempt,
            "artifacts": [entry.wire() for entry in self.entries],
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def attempt_prefix(workflow_prefix: str, node: str, attempt: int) -> str:
    """`<workflow prefix><node>/<attempt>` (the workflow prefix ends with '/', `keys.workflow_prefix`)."""
    return f"{workflow_prefix}{node}/{attempt}"


def manifest_key(attempt_key_prefix: str) -> str:
    return f"{attempt_key_prefix}{MANIFEST_SUFFIX}"


def file_key(attempt_key_prefix: str, name: str) -> str:
    return f"{attempt_key_prefix}/{name}"


def check_name(name: str) -> str:
    """A relative output path as uploaded: POSIX separators, no `.`/`..` parts, not absolute; ValueError if not."""
    normal = posixpath.normpath(name)
    if name.startswith("/") or normal != name or normal in (".", "") or normal.split("/")[0] == "..":
        raise ValueError(f"output path {name!r} is not a plain relative path")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"output path {name[:60]!r}... is over {MAX_NAME_BYTES} bytes")
    return name


def digest_of(hex_digest: str) -> str:
    return DIGEST_PREFIX + hex_digest


def hex_of(digest: str) -> str:
    if not digest.startswith(DIGEST_PREFIX) or len(digest) != len(DIGEST_PREFIX) + 64:
        raise ManifestError(f"digest {digest!r} is not sha256:<64 hex digits>")
    return digest[len(DIGEST_PREFIX) :]


def loads(data: bytes, *, workflow_uid: str | None = None) -> Manifest:
    """Parse a manifest; ManifestError when garbled or (with `workflow_uid`) written for another Workflow."""
    try:
        body = json.loads(data)
        entries = tuple(
            Entry(str(a["name"]), str(a["key"]), int(a["size"]), str(a["digest"])) for a in body["artifacts"]
        )
        manifest = Manifest(str(body["workflowUid"]), str(body["node"]), int(body["attempt"]), entries)
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"the manifest is not readable: {exc}") from exc
    for entry in entries:
        hex_of(entry.digest)
        if entry.size < 0:
            raise ManifestError(f"artifact {entry.name!r} has a negative size")
    if workflow_uid is not None and manifest.workflow_uid != workflow_uid:
        raise ManifestError(f"the manifest belongs to another Workflow (uid {manifest.workflow_uid})")
    return manifest


def staging_reason(message: str | None) -> str | None:
    """The reason a staging container's termination message starts with (`ArtifactCorrupt: ...`), else None."""
    if not message:
        return None
    head = message.split(":", 1)[0].strip()
    return head if head in STAGING_REASONS else None


UPSTREAM = "upstream"  # stage-in names the dependency whose artifacts were bad: `ArtifactCorrupt: upstream NODE: ...`


def upstream_of(message: str | None) -> str | None:
    """The dependency a stage-in failure names (`<reason>: upstream <node>: ...`), else None (the input)."""
    if staging_reason(message) not in (ARTIFACT_CORRUPT, ARTIFACT_MISSING):
        return None
    parts = (message or "").split(":", 2)
    words = parts[1].split() if len(parts) == 3 else []
    return words[1] if len(words) == 2 and words[0] == UPSTREAM else None
