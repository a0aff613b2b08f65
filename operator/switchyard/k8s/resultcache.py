"""The result cache of a Workflow run (`Component.spec.cache`): launches answered without a Job, entries kept.

Before the runner creates Jobs, `answer` looks each cache-enabled launch up by its key (`logic.cachekey`); a
usable entry (`artifacts.cache.lookup`) becomes the attempt's Succeeded result with reason `Cached`: its
result, and a manifest of this attempt (this Workflow's uid) naming the cached run's objects, so downstream
nodes stage them in as usual and the GC sweep keeps them while this Workflow names them. After a cache-enabled
node succeeded by running, `record` writes its entry. The key needs the run's input identity and every
dependency's full result digest as seen by this process: after an operator restart those are not known, and
the run's nodes simply run (a miss, never a wrong hit). Store trouble is a miss too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from switchyard.artifacts import cache, reader
from switchyard.k8s import render
from switchyard.k8s.artifactrun import RunArtifacts
from switchyard.logic.cachekey import cache_key, digest_text
from switchyard.logic.scheduler import JobResult, Launch, WorkflowRun
from switchyard.models.component import ComponentSpec
from switchyard.models.workflow import MAX_STATUS_ARTIFACTS

log = logging.getLogger(__name__)


class ResultCache:
    def __init__(self, artifacts: RunArtifacts, namespace: str, workflow: str, input_identity: str | None) -> None:
        self.artifacts = artifacts
        self.namespace = namespace
        self.workflow = workflow
        self.input_identity = input_identity
        self.keys: dict[tuple[str, int], str] = {}  # (node, attempt) launched with a key -> that key
        self.output_digests: dict[str, str] = {}  # node -> digest of its full result, as seen by this process

    def note_outputs(self, outputs: Mapping[str, str]) -> None:
        self.output_digests.update({node: digest_text(output) for node, output in outputs.items()})

    async def _key(self, run: WorkflowRun, node: str, component: ComponentSpec) -> str | None:
        if self.input_identity is None:
            return None
        store, client = self.artifacts.store, self.artifacts.client
        upstream: dict[str, list[list[object]]] = {}
        for dep in run.inputs_of(node):
            output, manifest_key = self.output_digests.get(dep), run.nodes[dep].artifact_manifest
            if output is None or manifest_key is None:
                return None
            manifest = await asyncio.to_thread(reader.read_manifest, client, store.bucket, manifest_key, run.uid)
            upstream[dep] = [[output], *[[e.name, e.size, e.digest] for e in manifest.entries]]
        merged = render.merge_config(component.config, run.dag.nodes[node].config)
        return cache_key(component, merged, self.input_identity, upstream)

    async def answer(
        self, run: WorkflowRun, launches: Iterable[Launch], components: Mapping[str, ComponentSpec], now: datetime
    ) -> dict[str, JobResult]:
        """The launches the cache answers: node -> its attempt's Cached result (no Job is created for them)."""
        hits: dict[str, JobResult] = {}
        for launch in launches:
            component = components.get(launch.component)
            if component is None or not component.cache.enabled or launch.fallback_for is not None:
                continue
            try:
                hit = await self._answer(run, launch, component, now)
            except Exception as exc:  # store trouble or a bad manifest: run the node
                log.warning("result cache lookup for node %s failed (the node runs): %s", launch.node, exc)
                continue
            if hit is not None:
                hits[launch.node] = hit
        return hits

    async def _answer(self, run: WorkflowRun, launch: Launch, component: ComponentSpec, now: datetime) -> Any:
        key = await self._key(run, launch.node, component)
        if key is None:
            return None
        self.keys[(launch.node, launch.attempt)] = key
        store, client = self.artifacts.store, self.artifacts.client
        max_age = component.cache.max_age_seconds
        entry = await asyncio.to_thread(cache.lookup, client, store, self.namespace, key, now, max_age)
        if entry is None:
            return None
        manifest_key = self.artifacts.manifest_key(launch.node, launch.attempt)
        await asyncio.to_thread(
            cache.copy_manifest, client, store, entry, manifest_key, run.uid, launch.node, launch.attempt
        )
        self.keys.pop((launch.node, launch.attempt), None)
        self.artifacts.recorded_bytes += entry.manifest.total_bytes
        return JobResult(
            launch.node,
            launch.attempt,
            "Succeeded",
            run.job_name(launch.node, launch.attempt),
            now,
            message=entry.result,
            artifacts=tuple(e.wire() for e in entry.manifest.entries[:MAX_STATUS_ARTIFACTS]),
            artifact_manifest=manifest_key,
            artifact_bytes=entry.manifest.total_bytes,
            cached=True,
        )

    async def record(
        self, run: WorkflowRun, changed: Iterable[str], results: Mapping[str, JobResult], now: datetime
    ) -> None:
        """Write the entries of the cache-enabled nodes that just succeeded by running."""
        for node in changed:
            result = results.get(node)
            if result is None or result.state != "Succeeded" or result.cached or run.nodes[node].phase != "Succeeded":
                continue
            key = self.keys.pop((node, result.attempt), None)
            if key is None or result.artifact_manifest is None:
                continue
            try:
                await asyncio.to_thread(
                    cache.store, self.artifacts.client, self.artifacts.store, self.namespace, key,
                    result=result.message, manifest_key=result.artifact_manifest, workflow=self.workflow, node=node,
                    now=now,
                )  # fmt: skip
            except Exception as exc:  # the next run of it is a miss: nothing else depends on the entry
                log.warning("result cache entry for node %s not written: %s", node, exc)
