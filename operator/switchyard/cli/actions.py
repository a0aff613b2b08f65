"""What `stop` and `retry` send to the API server (pure): the stop annotation and the retry Workflow.

The operator honours both: `switchyard.dev/stop` stops a running Workflow (Jobs deleted, phase Failed, reason
`Stopped`; its exit nodes still run, unless a second stop set `switchyard.dev/stop-exit`);
`spec.reuse.workflow` makes a new Workflow reuse the old one's succeeded outputs.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from switchyard.models.crd import API_VERSION
from switchyard.models.labels import ANNOTATION_STOP, ANNOTATION_STOP_EXIT

MAX_NAME = 253


def stop_reason(user: str, reason: str | None = None) -> str:
    return reason or f"stopped by {user} via switchyard stop"


def stop_patch(reason: str, again: bool = False) -> dict[str, Any]:
    """A JSON merge patch setting the stop annotation; `again` (the Workflow was stopped already): the one
    that skips its exit nodes too."""
    return {"metadata": {"annotations": {ANNOTATION_STOP_EXIT if again else ANNOTATION_STOP: reason}}}


def retry_name(old: str, taken: Collection[str]) -> str:
    """`<old>-retry-<n>` with the first free n, the old name shortened so the result fits 253 characters."""
    n = 1
    while True:
        suffix = f"-retry-{n}"
        candidate = old[: MAX_NAME - len(suffix)].rstrip("-.") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def retry_body(old: Mapping[str, Any], taken: Collection[str]) -> dict[str, Any]:
    """The new Workflow: the old spec (it is immutable, so copied) plus `spec.reuse`, the old labels.

    Annotations are not copied (the old one may carry the stop annotation).
    """
    metadata = old.get("metadata") or {}
    spec = copy.deepcopy(dict(old.get("spec") or {}))
    spec["reuse"] = {"workflow": metadata["name"]}
    new_metadata: dict[str, Any] = {"name": retry_name(metadata["name"], taken)}
    if metadata.get("namespace"):
        new_metadata["namespace"] = metadata["namespace"]
    if metadata.get("labels"):
        new_metadata["labels"] = dict(metadata["labels"])
    return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": new_metadata, "spec": spec}
