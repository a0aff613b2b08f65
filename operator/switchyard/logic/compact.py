"""The compact status of a large run: what a node's status keeps when the Workflow has many nodes.

Above `COMPACT_THRESHOLD` nodes status keeps only what a restart needs, so the object stays under etcd's
limit for any outcome (`k8s/prepare.py` budgets `COMPACT_NODE_BYTES` per node from these rules).
"""

from __future__ import annotations

from typing import Any

from switchyard.logic.nodestate import NodeState
from switchyard.logic.steps import preview

COMPACT_THRESHOLD = 1000  # above this many nodes, status keeps only what a restart needs
COMPACT_MESSAGES = 100  # in a compact status, only this many failed nodes keep a (short) message
COMPACT_TEXT = 80  # ... of at most this many characters
COMPACT_REASON = 40  # reasons in a compact status are cut to this (k8s/prepare.py budgets COMPACT_NODE_BYTES)
FINISHED = frozenset({"Succeeded", "FellBack", "Failed", "Skipped"})


def compact_wire(node: str, status: NodeState, wire: dict[str, Any], with_message: set[str]) -> dict[str, Any]:
    """`wire` (the node's full wire form) cut to the compact form: finished nodes lose Job name, output preview
    and start time; no artifact list (the manifest's key leads to them); reasons cut to `COMPACT_REASON`; only
    the first `COMPACT_MESSAGES` nodes with a message (`with_message`, kept by the caller) keep one, cut to
    `COMPACT_TEXT`. Nulls remove what an earlier write stored (merge patch)."""
    if status.phase in FINISHED:
        wire.update(job=None, output=None, startedAt=None, fallback=None)
    wire.pop("artifacts", None)
    for key in ("artifactManifest", "artifactBytes"):
        if wire.get(key) is None:
            wire.pop(key, None)
    if status.reason:
        wire["reason"] = preview(status.reason, COMPACT_REASON)
    keep = status.message and status.phase not in ("Skipped", "Succeeded")
    if keep and (node in with_message or len(with_message) < COMPACT_MESSAGES):
        with_message.add(node)
        wire["message"] = preview(status.message or "", COMPACT_TEXT)
    else:
        wire["message"] = None
    return wire


__all__ = ["COMPACT_MESSAGES", "COMPACT_REASON", "COMPACT_TEXT", "COMPACT_THRESHOLD", "compact_wire"]
