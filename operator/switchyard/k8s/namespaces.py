"""The namespaces an operator with `--namespace` serves, kept complete while kopf starts.

kopf 1.45 learns which namespaces match the `--namespace` names and globs in two steps: a list, then a
watcher that lists again and watches from that second list's resourceVersion, but ignores the objects of
that second list. A matching namespace created between the two lists was never served until the next
restart: a shard of a large cluster could silently skip a new tenant's namespace
(`tests/emulated/test_namespaces.py` holds that gap open).

`NamespaceWatch` is a second list + watch of namespaces (`informer.ListWatch`) whose list does count. It
feeds kopf's own `Insights` (the object `kopf.run(insights=...)` takes) with kopf's own rule
(`revise_namespaces`: add what matches, drop what is deleted, keep a terminating namespace while its
conditions block the deletion), so the two can only agree. kopf is pinned: both names are its internals.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client

from switchyard.k8s.errors import forbidden
from switchyard.k8s.informer import ListWatch, serves
from switchyard.kopfcompat import Insights, RawEvent, revise_namespaces


class NamespaceWatch(ListWatch):
    # Without RBAC to list namespaces kopf falls back to the exact names given, and so does the operator.
    optional = True

    def __init__(
        self, api_client: client.ApiClient, patterns: list[str], insights: Insights, loop: asyncio.AbstractEventLoop
    ) -> None:
        api = client.CoreV1Api(api_client)
        super().__init__("namespaces", api.list_namespace, None, [None], loop)
        self.patterns = list(patterns)
        self.insights = insights
        self.pending: list[RawEvent] = []
        self.drain: asyncio.Task[None] | None = None

    def digest(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """What `revise_namespaces` reads of a matching namespace: its name, deletion mark and conditions."""
        meta = body.get("metadata") or {}
        if not serves(meta.get("name", ""), self.patterns):
            return None
        kept = {k: meta[k] for k in ("name", "deletionTimestamp") if meta.get(k)}
        return {"metadata": kept, "status": {"conditions": (body.get("status") or {}).get("conditions") or []}}

    def listed(self, scope: str | None, digests: list[Any]) -> None:
        self._revise([{"type": None, "object": body} for body in digests])

    def changed(self, deleted: bool, digest: Any) -> None:
        self._revise([{"type": "DELETED" if deleted else "MODIFIED", "object": digest}])

    def _revise(self, events: list[RawEvent]) -> None:
        self.pending.extend(events)
        if self.drain is None or self.drain.done():
            self.drain = self.loop.create_task(self._apply(), name="namespace-insights")

    async def _apply(self) -> None:
        """Under kopf's `revised` condition, as its observer does; its orchestrator is woken only by a change."""
        async with self.insights.revised:
            while self.pending:
                events, self.pending = self.pending, []
                before = set(self.insights.namespaces)
                revise_namespaces(raw_events=events, insights=self.insights, namespaces=self.patterns)
                if self.insights.namespaces != before:
                    self.insights.revised.notify_all()


# What the Job, Pod and Event informers list and watch cluster-wide when `--namespace` holds a pattern.
CLUSTER_WIDE_LISTS = ("jobs", "pods")


def pattern_scope_problem(api_client: client.ApiClient, patterns: list[str]) -> str | None:
    """With `--namespace` patterns (globs, `!` negations) the informers list and watch Jobs and Pods across all
    namespaces and filter here: namespaced RBAC (a Role per namespace) answers that 403 forever and no Workflow
    ever starts. Ask once at startup (a one-item list, as the informer's first page); the reason to refuse, or
    None when allowed. Other API errors are the informer's to retry, not a reason to refuse."""
    from kubernetes.client.exceptions import ApiException

    calls = {
        "jobs": client.BatchV1Api(api_client).list_job_for_all_namespaces,
        "pods": client.CoreV1Api(api_client).list_pod_for_all_namespaces,
    }
    denied = []
    for kind in CLUSTER_WIDE_LISTS:
        try:
            calls[kind](limit=1, _preload_content=False).release_conn()  # type: ignore[attr-defined]
        except ApiException as exc:
            if forbidden(exc):
                denied.append(kind)
    if not denied:
        return None
    return (
        f"--namespace {','.join(patterns)} holds a pattern, so Jobs and Pods are listed and watched in all "
        f"namespaces, but listing {' and '.join(denied)} cluster-wide is forbidden (HTTP 403: namespaced RBAC?). "
        "Grant list/watch on jobs and pods cluster-wide (a ClusterRole), or pass each namespace by its exact name "
        "(the chart's watchNamespaces does: a Role per namespace)"
    )
