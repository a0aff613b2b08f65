"""A Workflow run's artifact store: which one, the staging of each launch, the manifests of succeeded attempts.

`open_store` resolves the Workflow's ArtifactStore (`spec.artifactStore`, else the namespace's `default`)
when the run starts; `RunArtifacts` then gives each launch its `Staging` (what stage-in fetches, where
stage-out uploads) and turns a finished Job into the node's result: on success the attempt's manifest, read
with the operator's own credentials in a thread and checked against the output caps; on a staging failure
the reason the staging container reported, retried without charging the Component (store trouble, corrupt
or missing objects) or failed at once (`OutputTooLarge`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Mapping
from datetime import datetime

from minio import Minio

from switchyard.artifacts import carry, fanin, gc, keys, reader
from switchyard.artifacts import manifest as mf
from switchyard.artifacts.store import Credentials, StoreError, StoreSpec, make_client
from switchyard.artifacts.trouble import StagingFailure, classify, is_missing
from switchyard.config import Options
from switchyard.k8s.artifactstores import resolve_store
from switchyard.k8s.client import Api
from switchyard.k8s.entries import PodEntry
from switchyard.k8s.staging import Staging
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.scheduler import JobResult, Launch, WorkflowRun
from switchyard.models.artifactstore import DEFAULT_STORE
from switchyard.models.workflow import MAX_STATUS_ARTIFACTS, WorkflowSpec


async def open_store(
    api: Api, namespace: str, workflow: str, uid: str, spec: WorkflowSpec, options: Options
) -> RunArtifacts | None:
    """The run's store (its staging with the image and caps of `options`), or None when it passes no artifacts
    (no store named and no `default` store).

    InvalidSpec when the Workflow needs a store (it names one, or its input is an artifact) that is missing
    or unusable, or when the namespace's `default` store is unusable."""
    named = spec.artifact_store
    needed = named is not None or spec.input.artifact is not None
    try:
        store, credentials = await resolve_store(api, namespace, named)
    except StoreError as exc:
        if exc.reason == "StoreNotFound" and not needed:
            return None
        what = f"ArtifactStore '{named or DEFAULT_STORE}'"
        if exc.reason == "StoreNotFound":
            why = "spec.input.artifact needs an artifact store" if named is None else "spec.artifactStore names it"
            raise InvalidSpec("ArtifactStoreNotFound", f"{what} not found in namespace {namespace} ({why})") from exc
        raise InvalidSpec("ArtifactStoreInvalid", f"{what} cannot be used: {exc.reason}: {exc.message}") from exc
    input_key = keys.prefixed(store, spec.input.artifact.key) if spec.input.artifact is not None else None
    run = RunArtifacts(store, credentials, namespace, workflow, uid, input_key, options)
    if spec.artifact_gc == "Never":
        await run.retain()
    return run


class RunArtifacts:
    def __init__(
        self,
        store: StoreSpec,
        credentials: Credentials,
        namespace: str,
        workflow: str,
        uid: str,
        input_key: str | None,
        options: Options,
    ) -> None:
        self.options = options
        self.input_etag: str | None = None  # the input artifact's ETag, once peeked at (the cache's input identity)
        self.store = store
        self.credentials = credentials
        self.uid = uid
        self.input_key = input_key
        self.prefix = keys.workflow_prefix(store, namespace, workflow, uid)
        self.recorded_bytes = 0  # the run's artifacts so far (set from the status after a restart)
        self._client: Minio | None = None
        self.fan_ins: dict[tuple[str, int], dict[str, str]] = {}  # (node, attempt) -> dependency -> fan-in key

    @property
    def client(self) -> Minio:
        if self._client is None:
            self._client = make_client(self.store, self.credentials)
        return self._client

    def manifest_key(self, node: str, attempt: int) -> str:
        return mf.manifest_key(mf.attempt_prefix(self.prefix, node, attempt))

    def staging(
        self, node: str, attempt: int, upstream: Mapping[str, str | None], item: Mapping[str, object] | None = None
    ) -> Staging:
        """`item`: the artifact a forEach instance's item describes (staged at `item.data`)."""
        options = self.options
        return Staging(
            store=self.store,
            image=options.staging_image,
            workflow_uid=self.uid,
            prefix=mf.attempt_prefix(self.prefix, node, attempt),
            input_key=self.input_key,
            upstream=dict(upstream),
            max_node_bytes=options.max_node_output_bytes,
            item_data=dict(item) if item is not None else None,
            fan_in=self.fan_ins.pop((node, attempt), {}),
        )

    async def write_fan_ins(self, run: WorkflowRun, launches: list[Launch], now: datetime) -> dict[str, JobResult]:
        """Before the Jobs of `launches` exist: the fan-in manifest of each forEach dependency whose instances
        passed artifacts (`artifacts.fanin`), at its deterministic key (a restart between this and the Job's
        create only writes it again), remembered for `staging`. The launches whose manifest could not be written:
        node -> a Lost result for store trouble (retried with backoff, not charged); their Jobs are not created."""
        troubles: dict[str, JobResult] = {}

        async def write(launch: Launch, found: Mapping[str, tuple[tuple[int, str], ...]]) -> None:
            prefix = mf.attempt_prefix(self.prefix, launch.node, launch.attempt)
            written: dict[str, str] = {}
            for dep, instances in sorted(found.items()):
                key = fanin.fan_in_key(prefix, dep)
                data = fanin.build(self.uid, launch.node, launch.attempt, dep, instances).dumps()
                try:
                    await asyncio.to_thread(
                        self.client.put_object,
                        self.store.bucket,
                        key,
                        io.BytesIO(data),
                        len(data),
                        content_type="application/json",
                    )
                except Exception as exc:
                    failure = classify(exc)
                    result = JobResult(launch.node, launch.attempt, "Lost", "", now, blame=False)
                    detail = f"the fan-in manifest of {dep} could not be written: {failure.detail}"
                    troubles[launch.node] = staging_failed(result, mf.STORE_UNAVAILABLE, detail)
                    return
                written[dep] = key
            self.fan_ins[(launch.node, launch.attempt)] = written

        pending = [(launch, found) for launch in launches if (found := run.fan_in_artifacts(launch.node))]
        await asyncio.gather(*(write(launch, found) for launch, found in pending))
        return troubles

    async def artifacts_of(self, manifest_key: str) -> list[dict[str, object]]:
        """Every artifact a succeeded attempt's manifest lists (the status lists the first MAX_STATUS_ARTIFACTS),
        read in a thread; StagingFailure (reason, detail) when it cannot be."""
        manifest = await asyncio.to_thread(reader.read_manifest, self.client, self.store.bucket, manifest_key, self.uid)
        return [entry.wire() for entry in manifest.entries]

    async def carry(self, node: str, old_key: str, old_uid: str) -> tuple[list[dict[str, object]], str, int]:
        """A reused node's artifacts copied into this run (`artifacts.carry`): (the first MAX_STATUS_ARTIFACTS
        refs, its new manifest's key, total bytes). StagingFailure (reason, detail) when they cannot be."""
        manifest, key = await asyncio.to_thread(
            carry.carry, self.client, self.store.bucket, old_key, old_uid, self.prefix, self.uid, node
        )
        return [e.wire() for e in manifest.entries[:MAX_STATUS_ARTIFACTS]], key, manifest.total_bytes

    async def retain(self) -> None:
        """Write the marker that keeps this incarnation's outputs from the GC sweep (`artifactGC: Never`), before
        any node runs (idempotent: written again on every start and resume). StoreTrouble when it cannot be."""
        key = self.prefix + gc.RETAIN_MARKER
        try:
            await asyncio.to_thread(self.client.put_object, self.store.bucket, key, io.BytesIO(b""), 0)
        except Exception as exc:
            failure = classify(exc)
            raise StoreTrouble(f"{failure.reason}: {failure.detail}") from exc

    async def peek_input(self) -> reader.Peek:
        """The input artifact's size, content type and first 64 KiB; InvalidSpec ArtifactNotFound if absent."""
        assert self.input_key is not None
        try:
            peek = await asyncio.to_thread(reader.peek, self.client, self.store.bucket, self.input_key)
            self.input_etag = peek.etag  # part of the result cache's input identity
            return peek
        except Exception as exc:
            if is_missing(exc):
                raise InvalidSpec(
                    "ArtifactNotFound", f"input artifact '{self.input_key}' not found in bucket '{self.store.bucket}'"
                ) from exc
            failure = classify(exc)
            raise StoreTrouble(f"{failure.reason}: {failure.detail}") from exc

    async def collect(self, result: JobResult, pod: PodEntry | None) -> JobResult:
        """A succeeded Job's result with the attempt's artifacts, or the failure that its staging reported."""
        key = self.manifest_key(result.node, result.attempt)
        try:
            manifest = await asyncio.to_thread(reader.read_manifest, self.client, self.store.bucket, key, self.uid)
        except StagingFailure as failure:
            reason, detail = failure.reason, failure.detail
            sidecar = mf.staging_reason(pod.sidecar_message if pod is not None else None)
            if reason == mf.ARTIFACT_MISSING and sidecar is not None and pod is not None:
                reason, detail = sidecar, (pod.sidecar_message or "").split(":", 1)[-1].strip()
            return staging_failed(result, reason, f"stage-out: {detail}")
        options = self.options
        total = manifest.total_bytes
        if options.max_node_output_bytes is not None and total > options.max_node_output_bytes:
            cap = f"the per-node cap is {options.max_node_output_bytes} bytes"
            return staging_failed(result, mf.OUTPUT_TOO_LARGE, f"the node wrote {total} bytes; {cap}")
        cap_wf = options.max_workflow_output_bytes
        if cap_wf is not None and self.recorded_bytes + total > cap_wf:
            detail = f"the workflow's artifacts would reach {self.recorded_bytes + total} bytes; the cap is {cap_wf}"
            return staging_failed(result, mf.OUTPUT_TOO_LARGE, detail)
        self.recorded_bytes += total
        listed = tuple(e.wire() for e in manifest.entries[:MAX_STATUS_ARTIFACTS])
        return dataclasses.replace(result, artifacts=listed, artifact_manifest=key, artifact_bytes=total)


class StoreTrouble(Exception):
    """The store could not be read at the start of a run: the runner tries again later."""


def staging_failed(result: JobResult, reason: str, detail: str, upstream: str | None = None) -> JobResult:
    """The JobResult of an attempt whose staging failed: retried unblamed (a dependency with bad artifacts
    running again first), or failed at once when over a cap."""
    message = f"{reason}: {detail}"
    if reason == mf.OUTPUT_TOO_LARGE:
        return dataclasses.replace(result, state="Failed", reason=reason, message=message, blame=False, permanent=True)
    return dataclasses.replace(
        result,
        state="Lost",
        reason=reason,
        message=message,
        blame=False,
        store_trouble=reason == mf.STORE_UNAVAILABLE,
        upstream_lost=upstream,
    )


def staging_failure(result: JobResult, pod: PodEntry | None) -> JobResult | None:
    """A failed Job whose stage-in failed: the result for its reason (None when the Component failed)."""
    if pod is None or not pod.staging_failed:
        return None
    reason = mf.staging_reason(pod.message) or mf.STORE_UNAVAILABLE
    detail = (pod.message or "").split(":", 1)[-1].strip() if mf.staging_reason(pod.message) else (pod.message or "")
    detail = detail or f"exited {pod.exit_code}"
    return staging_failed(result, reason, f"stage-in: {detail}", mf.upstream_of(pod.message))
