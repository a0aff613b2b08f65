"""The layout of keys in a store: what the operator writes, and where a user's keys go.

Every key is under the store's `prefix`. A node's outputs are under the Workflow's uid and the attempt, so a
re-created Workflow of the same name, or a retried attempt, never overwrites (or is mixed with) another's:

    {prefix}workflows/{namespace}/{workflow}/{uid}/{node}/{attempt}/{name}

A user's own keys (`switchyard artifacts put`, `input.artifact.key`) are `{prefix}{key}`.
"""

from __future__ import annotations

from switchyard.artifacts.store import StoreSpec

WORKFLOWS = "workflows"


def prefixed(spec: StoreSpec, key: str) -> str:
    """The object name of a user's key: under the store's prefix."""
    return (spec.prefix or "") + key.lstrip("/")


def unprefixed(spec: StoreSpec, object_name: str) -> str:
    prefix = spec.prefix or ""
    return object_name[len(prefix) :] if prefix and object_name.startswith(prefix) else object_name


def workflow_prefix(spec: StoreSpec, namespace: str, workflow: str, uid: str | None = None) -> str:
    """Where a Workflow's outputs are (of one incarnation when `uid` is given); ends with '/'."""
    base = prefixed(spec, f"{WORKFLOWS}/{namespace}/{workflow}/")
    return f"{base}{uid}/" if uid else base


def output_key(spec: StoreSpec, namespace: str, workflow: str, uid: str, node: str, attempt: int, name: str) -> str:
    """The object name of one output file of one attempt of a node (`name` may be a nested path)."""
    return f"{workflow_prefix(spec, namespace, workflow, uid)}{node}/{attempt}/{name.lstrip('/')}"
