"""ArtifactStores from the API: `resolve_store` reads one and its Secret; `StoreChecker` keeps `Ready` current
and sweeps the outputs of deleted Workflows out of each Ready store (`artifacts.gc`).

The bucket check itself (`switchyard.artifacts.store.check_bucket`) is blocking minio I/O: it runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException
from minio.error import S3Error

from switchyard.artifacts import gc
from switchyard.artifacts.store import (
    CONNECT_TIMEOUT,
    CheckResult,
    Credentials,
    StoreError,
    StoreSpec,
    check_bucket,
    credentials_from_secret,
    make_client,
    parse_spec,
)
from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.errors import not_found
from switchyard.logic.conditions import get_condition, set_condition
from switchyard.logic.storecheck import recheck_delay
from switchyard.models.artifactstore import DEFAULT_STORE, ArtifactStoreStatus
from switchyard.models.common import Condition, ConditionStatus
from switchyard.models.crd import GROUP, VERSION

PLURAL = "artifactstores"
Emit = Any  # (body, type, reason, message) -> None
log = logging.getLogger("switchyard.artifactstores")


async def read_store(api: Api, namespace: str, name: str) -> dict[str, Any]:
    """The ArtifactStore object (StoreError `StoreNotFound` when there is none)."""
    try:
        body: Any = await api.call(api.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as error:
        if not_found(error):
            raise StoreError("StoreNotFound", f"ArtifactStore {name!r} not found in namespace {namespace}") from None
        raise
    return dict(body)


async def read_secret(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The Secret as the API returns it (data base64), None when it does not exist."""
    try:
        secret = await api.call(api.core.read_namespaced_secret, name, namespace)
    except ApiException as error:
        if not_found(error):
            return None
        raise
    # only the data, still base64: the Secret's values are decoded where they are used, and logged nowhere
    return {"data": dict(secret.data or {})}


async def resolve_store(api: Api, namespace: str, name: str | None = None) -> tuple[StoreSpec, Credentials]:
    """The ArtifactStore `name` (the namespace's `default` when None) and its credentials.

    Raises StoreError (reason StoreNotFound, InvalidSpec, SecretMissing) for what a user must fix, and the
    API client's errors (`ApiTrouble`, other ApiExceptions) for trouble to retry.
    """
    body = await read_store(api, namespace, name or DEFAULT_STORE)
    spec = parse_spec(body)
    secret = await read_secret(api, namespace, spec.credentials_secret_ref.name)
    return spec, credentials_from_secret(spec, secret)


@dataclass(frozen=True)
class Checked:
    result: CheckResult
    generation: int | None
    spec: StoreSpec | None = None
    credentials: Credentials | None = None


async def live_workflows(api: Api, namespace: str) -> tuple[set[str], list[str]]:
    """The uids of the namespace's Workflows now (a quorum list, never a cache that could miss a new one) and
    every artifact key their statuses name."""
    listed: Any = await api.call(api.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "workflows")
    uids, named = set(), []
    for item in listed.get("items") or []:
        uids.add(str(item["metadata"]["uid"]))
        for node in ((item.get("status") or {}).get("nodes") or {}).values():
            named += [str(a.get("key")) for a in node.get("artifacts") or [] if isinstance(a, dict)]
    return uids, named


@dataclass
class StoreChecker:
    """Keeps each ArtifactStore's `Ready` condition current: one `run` loop per store (a kopf daemon), woken
    early by `changed` when its spec changes; re-checked every `interval` seconds while Ready, with capped
    exponential backoff while not. A Secret is read by name at each check (no watch on Secrets: least
    privilege), so a Secret created or fixed later is seen at the next check."""

    api: Api
    interval: float = 60.0
    backoff_cap: float = 60.0
    check_timeout: float = CONNECT_TIMEOUT
    gc_interval: float = 60.0  # seconds between artifact GC sweeps of a Ready store; 0: none
    _wakes: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    _generations: dict[tuple[str, str], int | None] = field(default_factory=dict)

    def changed(self, namespace: str, name: str, generation: int | None) -> None:
        """A watch event for the store: wake its loop when the spec changed (status writes change nothing)."""
        key = (namespace, name)
        if key in self._generations and self._generations[key] != generation:
            self._wakes.setdefault(key, asyncio.Event()).set()

    def forget(self, namespace: str, name: str) -> None:
        self._wakes.pop((namespace, name), None)
        self._generations.pop((namespace, name), None)

    async def check(self, namespace: str, name: str) -> Checked:
        """The check's result and the generation checked; API trouble is raised for the caller to retry."""
        generation: int | None = None
        try:
            body = await read_store(self.api, namespace, name)
            generation = (body.get("metadata") or {}).get("generation")
            spec = parse_spec(body)
            secret = await read_secret(self.api, namespace, spec.credentials_secret_ref.name)
            credentials = credentials_from_secret(spec, secret)
        except StoreError as error:
            return Checked(CheckResult(False, error.reason, error.message), generation)
        # minio is blocking; the check is bounded by its own timeouts
        result = await asyncio.to_thread(check_bucket, spec, credentials, timeout=self.check_timeout)
        return Checked(result, generation, spec, credentials)

    async def sweep(self, namespace: str, spec: StoreSpec, credentials: Credentials) -> int:
        """Delete the outputs of this namespace's deleted Workflows from the store (`artifacts.gc`); how many
        incarnations. Store or API trouble is logged and left for the next sweep."""
        client = make_client(spec, credentials, read_timeout=60)
        try:
            listed = await asyncio.to_thread(gc.incarnations, client, spec, namespace)
            if not listed:
                return 0
            live, named = await live_workflows(self.api, namespace)  # read after the listing: see artifacts.gc
            referenced = gc.referenced_prefixes(spec, namespace, named)
            done = await asyncio.to_thread(gc.collect, client, spec, listed, live, referenced)
        except (S3Error, gc.CollectError, urllib3.exceptions.HTTPError, OSError, ApiTrouble, ApiException) as error:
            log.warning("artifact GC in %s (bucket %s) failed, retried at the next sweep: %s", namespace,
                        spec.bucket, error)  # fmt: skip
            return 0
        for incarnation, objects in done:
            log.info("deleted %d artifacts of deleted Workflow %s/%s (uid %s)", objects, namespace,
                     incarnation.workflow, incarnation.uid)  # fmt: skip
        return len(done)

    async def run(self, body: Any, emit: Emit, stopped: Any) -> None:
        """The loop of one store until `stopped` (kopf's DaemonStopped flag) or cancellation."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        key = (namespace, name)
        wake = self._wakes.setdefault(key, asyncio.Event())
        self._generations.setdefault(key, body["metadata"].get("generation"))
        # the conditions as last written: kept here, as the body's copy lags our own patches
        conditions = ArtifactStoreStatus.model_validate(body.get("status") or {}).conditions
        failures = 0
        last_sweep = -math.inf
        try:
            while not stopped:
                wake.clear()
                try:
                    checked = await self.check(namespace, name)
                except (ApiTrouble, ApiException) as error:
                    log.warning("ArtifactStore %s/%s: cannot read it or its Secret now: %s", namespace, name, error)
                    failures += 1
                else:
                    result, generation = checked.result, checked.generation
                    self._generations[key] = generation
                    failures = 0 if result.ready else failures + 1
                    conditions = await self._record(body, conditions, result, generation, emit)
                    due = self.gc_interval > 0 and time.monotonic() - last_sweep >= self.gc_interval
                    if result.ready and due and checked.spec is not None and checked.credentials is not None:
                        last_sweep = time.monotonic()
                        await self.sweep(namespace, checked.spec, checked.credentials)
                delay = recheck_delay(failures, self.interval, self.backoff_cap)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=delay)
        finally:
            self.forget(namespace, name)

    async def _record(
        self, body: Any, conditions: list[Condition], result: CheckResult, generation: int | None, emit: Emit
    ) -> list[Condition]:
        """Patch `Ready` (and lastChecked); an Event when the condition changes: Warning with the cause, or Normal."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        now = datetime.now(UTC).replace(microsecond=0)
        previous = get_condition(conditions, "Ready")
        state: tuple[ConditionStatus, str] = ("True" if result.ready else "False", result.reason)
        updated = set_condition(conditions, "Ready", state[0], result.reason, result.message, now, generation)
        patch = {
            "conditions": [c.to_wire() for c in updated],
            "observedGeneration": generation,
            "lastChecked": now.isoformat().replace("+00:00", "Z"),
        }
        await self.api.patch_status(PLURAL, namespace, name, patch)
        if previous is None or (previous.status, previous.reason) != state:
            if result.ready:
                emit(body, "Normal", "Ready", result.message)
            else:
                emit(body, "Warning", result.reason, result.message)
        return updated
