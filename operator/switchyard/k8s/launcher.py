"""Create (or adopt) the Jobs the engine planned, and delete the ones it gave up on.

Job names are unique per (Workflow uid, node, attempt), so an existing Job is adopted only when its owner,
node and attempt labels say it is this one; anything else is a foreign Job, an error on that node. A Job the
API refuses (a quota, an admission webhook, an invalid object) is reported on the node with the API's words,
as a refusal the engine backs off from, never as the component's failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s import render
from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.entries import job_entry
from switchyard.k8s.errors import api_message, conflict, forbidden, not_found, rejected, status_reason
from switchyard.k8s.staging import Staging
from switchyard.logic import naming
from switchyard.logic.exits import SUMMARY_KEY
from switchyard.logic.scheduler import JobResult, Launch, WorkflowRun
from switchyard.models.component import ComponentSpec

LAUNCH_CONCURRENCY = 16


@dataclass
class LaunchReport:
    refused: dict[str, JobResult] = field(default_factory=dict)  # node -> why its Job does not exist
    adopted: int = 0  # Jobs that existed already (a restart): observe them in the same pass
    created: int = 0


def refused(exc: BaseException) -> bool:
    """The API said no to this object (malformed, invalid, forbidden, its namespace missing): not worth a blind
    retry."""
    return rejected(exc) or forbidden(exc) or not_found(exc)


def _refusal(launch: Launch, job: str, exc: BaseException, now: datetime) -> JobResult:
    if isinstance(exc, ApiException):
        message = api_message(exc)
        reason = status_reason(exc) or f"HTTP{exc.status}"
        transient = forbidden(exc) and "exceeded quota" in message
        return JobResult(
            launch.node, launch.attempt, "Rejected", job, now, reason, message, blame=False, transient=transient
        )
    return JobResult(
        launch.node, launch.attempt, "Rejected", job, now, "ApiUnavailable", str(exc), blame=False, transient=True
    )


class Launcher:
    """Creates the Jobs of one Workflow."""

    def __init__(
        self,
        api: Api,
        workflow: Mapping[str, Any],
        log: logging.Logger | logging.LoggerAdapter[Any],
        *,
        sidecar_injection: bool,  # `--allow-sidecar-injection`
    ) -> None:
        self.api = api
        self.sidecar_injection = sidecar_injection
        self.workflow = workflow
        self.namespace: str = workflow["metadata"]["namespace"]
        self.uid: str = workflow["metadata"]["uid"]
        self.log = log
        self.done_at: dict[str, float] = {}  # node -> monotonic time its success was seen (latency metric)

    async def launch(
        self,
        run: WorkflowRun,
        launches: list[Launch],
        components: Mapping[str, ComponentSpec],
        input_source: tuple[str, str],
        shards: int,
        now: datetime,
        staging: Callable[[Launch], Staging | None] | None = None,
    ) -> LaunchReport:
        report = LaunchReport()
        limiter = asyncio.Semaphore(LAUNCH_CONCURRENCY)

        async def create(launch: Launch) -> None:
            job = run.job_name(launch.node, launch.attempt)
            component = components.get(launch.component)
            if component is None:  # vanished between plan and launch
                message = f"component '{launch.component}' no longer exists or is invalid"
                report.refused[launch.node] = JobResult(
                    launch.node, launch.attempt, "Rejected", job, now, "UnknownComponent", message, blame=False
                )
                return
            try:
                manifest = render.job(
                    self.workflow,
                    name=job,
                    node=launch.node,
                    attempt=launch.attempt,
                    component_name=launch.component,
                    component=component,
                    node_config=run.dag.nodes[launch.node].config,
                    deps=run.inputs_of(launch.node),
                    input_source=input_source,
                    output_shards=shards,
                    staging=staging(launch) if staging is not None else None,
                    sidecar_injection=self.sidecar_injection,
                    summary=(
                        (naming.output_configmap(run.name, SUMMARY_KEY, shards), SUMMARY_KEY)
                        if launch.node in run.exit_nodes
                        else None
                    ),
                    fan_in=run.fan_in_of(launch.node),
                    item=run.item_of(launch.node),
                )
            except render.RenderError as exc:  # the component's defaults changed since the spec was checked
                report.refused[launch.node] = JobResult(
                    launch.node, launch.attempt, "Rejected", job, now, "InvalidConfig", str(exc), blame=False
                )
                return
            async with limiter:
                try:
                    await self.api.create_job(self.namespace, manifest)
                except ApiException as exc:
                    if conflict(exc):
                        foreign = await self._adopt(launch, job, now)
                        if foreign is not None:
                            report.refused[launch.node] = foreign
                        else:
                            report.adopted += 1
                        return
                    if not refused(exc):
                        raise
                    report.refused[launch.node] = _refusal(launch, job, exc, now)
                    self.log.warning("the API refused Job %s for node %s: %s", job, launch.node, api_message(exc))
                    return
                except ApiTrouble as exc:
                    report.refused[launch.node] = _refusal(launch, job, exc, now)
                    return
            report.created += 1
            metrics.JOBS_CREATED.labels(self.namespace).inc()
            seen = [self.done_at[d] for d in run.dag.deps[launch.node] if d in self.done_at]
            if seen:
                metrics.SCHEDULING_LATENCY.observe(time.monotonic() - max(seen))

        await asyncio.gather(*(create(launch) for launch in launches))
        return report

    async def _adopt(self, launch: Launch, job: str, now: datetime) -> JobResult | None:
        """The Job exists already (a restart, or a retried create that had succeeded). None: it is ours."""
        try:
            existing = await self.api.read_job(self.namespace, job)
        except ApiException as exc:
            if not_found(exc):  # deleted between the 409 and the read: the next pass creates it again
                return JobResult(
                    launch.node, launch.attempt, "Rejected", job, now, "JobGone", "the Job vanished", blame=False,
                    transient=True,
                )  # fmt: skip
            raise
        entry = job_entry(existing)
        if entry is not None and (entry.owner_uid, entry.node, entry.attempt) == (
            self.uid,
            launch.node,
            launch.attempt,
        ):
            return None
        self.log.warning("Job %s exists but is not this node's: leaving it alone", job)
        message = f"a Job named {job} exists but is not this node's attempt {launch.attempt}; it was left alone"
        return JobResult(launch.node, launch.attempt, "Failed", job, now, "ForeignJob", message, blame=False)

    async def delete(self, names: list[str]) -> None:
        for name in names:
            try:
                await self.api.delete_job(self.namespace, name)
            except ApiException as exc:
                if not not_found(exc):
                    raise
