"""Drive one Workflow from Pending to a final phase: route, validate, run the DAG as Jobs, record it.

One `WorkflowRunner` per Workflow (a kopf daemon) is the only writer of that Workflow's status. It wakes on
Job/Pod watch events, on the nearest retry/deadline timer, and on a slow resync; each wake-up feeds the
observed Job results to the pure engine (`logic.scheduler.WorkflowRun`) and carries out its plan in a
crash-safe order: outputs, then Jobs, then status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchyard import metrics
from switchyard.k8s import render
from switchyard.k8s.client import is_status
from switchyard.k8s.observe import ComponentEntry, RuleEntry, component_entry, pydantic_message, rule_entry
from switchyard.k8s.runtime import Runtime, Views
from switchyard.logic import naming
from switchyard.logic.analysis import analyse_input
from switchyard.logic.conditions import set_condition
from switchyard.logic.dag import Dag, check_components
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.routing import RouteDecision, path_to_nodes, route
from switchyard.logic.scheduler import COMPACT_THRESHOLD, JobResult, Plan, WorkflowRun
from switchyard.models.common import MAX_NODES
from switchyard.models.component import ComponentSpec
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.workflow import NodeStatus, RouteStatus, WorkflowSpec, WorkflowStatus

Emit = Callable[[Mapping[str, Any], str, str, str], None]
RESYNC_SECONDS = 30.0
LAUNCH_CONCURRENCY = 16
MAX_STATUS_BYTES = 1_000_000  # keep the whole object well under etcd's ~1.5 MiB


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class WorkflowRunner:
    def __init__(
        self,
        rt: Runtime,
        views: Views,
        body: Mapping[str, Any],
        emit: Emit,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.rt = rt
        self.views = views
        self.body = body
        self.emit = emit
        self.log = logger
        meta = body["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta["namespace"]
        self.status = WorkflowStatus.model_validate(body.get("status") or {})
        self.generation: int = meta.get("generation", 1)
        self.run: WorkflowRun | None = None
        self.spec: WorkflowSpec | None = None
        self.input_source: tuple[str, str] = (naming.input_configmap(self.name), "input")
        self.shards = 1
        self.lost: dict[str, JobResult] = {}
        self.stuck_jobs: list[str] = []
        self.done_at: dict[str, float] = {}  # node -> monotonic time its success was seen (latency metric)
        self.warned_generation: int | None = None
        self.registry: dict[str, ComponentEntry] = {}
        self.rules: list[RuleEntry] = []

    # -- API helpers --------------------------------------------------------------------------------

    async def patch_status(self, patch: dict[str, Any]) -> None:
        await self.rt.api.call(
            self.rt.api.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            self.namespace,
            "workflows",
            self.name,
            {"status": patch},
        )

    def event(self, type_: str, reason: str, message: str) -> None:
        self.emit(self.body, type_, reason, message)

    # -- the daemon ---------------------------------------------------------------------------------

    async def serve(self, stopped: Any) -> None:
        trigger = self.rt.trigger(self.namespace, self.name)
        try:
            if self.status.phase in ("Succeeded", "Failed", "Invalid"):
                await self.expire_when_due(stopped)
                return
            if not await self.start():
                await self.expire_when_due(stopped)
                return
            while not stopped:
                trigger.clear()
                wake_at = await self.reconcile()
                if self.run is not None and self.run.finished:
                    await self.finish()
                    await self.expire_when_due(stopped)
                    return
                await self.wait(trigger, stopped, wake_at)
        finally:
            self.rt.triggers.pop((self.namespace, self.name), None)

    async def wait(self, trigger: asyncio.Event, stopped: Any, wake_at: datetime | None) -> None:
        timeout = RESYNC_SECONDS
        if wake_at is not None:
            timeout = min(timeout, max(0.0, (wake_at - datetime.now(UTC)).total_seconds()) + 0.05)
        waiters = [asyncio.ensure_future(trigger.wait()), asyncio.ensure_future(stopped.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- start: validate and route --------------------------------------------------------------------

    async def start(self) -> bool:
        """Validate, route and set up (or pick up after a restart). False when the workflow is Invalid."""
        try:
            self.spec = WorkflowSpec.model_validate(self.body.get("spec") or {})
        except ValidationError as exc:
            await self.invalid("InvalidSpec", pydantic_message(exc))
            return False
        await self.load_registry()
        if self.status.phase == "Running" and self.status.started_at is not None:
            return await self.resume()
        try:
            data = await self.read_input(self.spec)
            decision = self.decide_route(self.spec, data)
            nodes = decision.nodes if decision.source != "Explicit" else self.spec.nodes
            if len(nodes) > MAX_NODES:
                raise InvalidSpec("TooLarge", f"the workflow has {len(nodes)} nodes; the limit is {MAX_NODES}")
            dag = Dag.build(nodes)
            check_components(nodes, set(self.registry))
            self.check_component_specs(dag)
        except InvalidSpec as exc:
            await self.invalid(exc.reason, exc.message)
            return False
        now = utcnow()
        self.shards = naming.output_shards(len(dag.nodes))
        self.status.outputs = self.output_names(dag)
        await self.ensure_configmaps(self.spec, data)
        chain = decision.source != "Explicit" and list(nodes) == path_to_nodes(decision.path)
        route_status = RouteStatus(
            source=decision.source,
            rule=decision.rule,
            path=decision.path,
            reason=decision.reason,
            summary=decision.summary,
            nodes=None if decision.source == "Explicit" or chain else list(nodes),
        )
        self.status.route = route_status
        self.status.started_at = now
        self.status.phase = "Running"
        self.status.observed_generation = self.generation
        conds = set_condition(
            self.status.conditions, "Valid", "True", "Valid", "the spec is valid", now, self.generation
        )
        conds = set_condition(
            conds,
            "Routed",
            "True",
            decision.source,
            decision.reason or decision.summary,
            now,
            self.generation,
        )
        self.status.conditions = conds
        self.make_run(dag, now)
        assert self.run is not None
        patch = {
            "phase": "Running",
            "startedAt": iso(now),
            "observedGeneration": self.generation,
            "route": route_status.to_wire(),
            "progress": self.run.progress,
            "outputs": self.status.outputs,
            "conditions": [c.to_wire() for c in conds],
            "message": None,
        }
        if not self.run.compact():
            patch["nodes"] = {n: NodeStatus().to_wire() for n in dag.order}
        try:
            self.check_size(patch)
        except InvalidSpec as exc:
            self.run = None
            await self.invalid(exc.reason, exc.message)
            return False
        await self.patch_status(patch)
        if decision.source == "Rule" and decision.rule:
            await self.count_rule_match(decision.rule, now)
        for skipped in decision.skipped:
            self.event("Warning", "RuleSkipped", skipped)
        self.event("Normal", "Started", f"routed ({decision.summary}): {len(dag.nodes)} nodes, {decision.reason}")
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, "Running")
        return True

    async def resume(self) -> bool:
        assert self.spec is not None
        route_status = self.status.route or RouteStatus()
        if route_status.source == "Explicit":
            nodes = self.spec.nodes
        elif route_status.nodes:
            nodes = route_status.nodes
        else:
            nodes = path_to_nodes(route_status.path)
        try:
            dag = Dag.build(nodes)
        except InvalidSpec as exc:  # only reachable if the spec changed behind our back
            await self.invalid(exc.reason, exc.message)
            return False
        self.shards = naming.output_shards(len(dag.nodes))
        if self.spec.input.config_map_key_ref is not None:
            ref = self.spec.input.config_map_key_ref
            self.input_source = (ref.name, ref.key)
        started = self.status.started_at or utcnow()
        self.make_run(dag, started)
        self.log.info("resumed workflow at %s", self.run.progress if self.run else "?")
        return True

    def make_run(self, dag: Dag, started: datetime) -> None:
        assert self.spec is not None
        self.run = WorkflowRun(
            self.name,
            dag,
            self.status.nodes,
            parallelism=self.spec.parallelism,
            failure_policy=self.spec.failure_policy,
            started_at=started,
            deadline_seconds=self.spec.active_deadline_seconds,
        )

    def decide_route(self, spec: WorkflowSpec, data: str) -> RouteDecision:
        if spec.nodes:
            return RouteDecision(
                source="Explicit",
                rule=None,
                path=[n.component for n in spec.nodes],
                nodes=list(spec.nodes),
                reason="explicit nodes in spec",
                summary="explicit",
                skipped=[],
            )
        labels = dict(self.body["metadata"].get("labels") or {})
        facts = analyse_input(data, spec.input.content_type, labels)
        rules = [e.rule for e in self.rules if e.rule is not None]
        selector = spec.routing.rule_selector.match_labels if spec.routing.rule_selector else None
        return route(facts, rules, selector, spec.routing.analysis)

    async def load_registry(self) -> None:
        """Components and RoutingRules as the API has them now (the watch caches may lag a fresh apply)."""
        api = self.rt.api
        listed = await api.call(api.custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, "components")
        self.registry = {e.ref.name: e for e in map(component_entry, listed.get("items", []))}
        listed = await api.call(
            api.custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, "routingrules"
        )
        self.rules = [rule_entry(item) for item in listed.get("items", [])]

    def component_entry(self, name: str) -> ComponentEntry | None:
        """The freshest entry we have: the watch cache, else what the API listed at start."""
        return self.views.component(self.namespace, name) or self.registry.get(name)

    def check_component_specs(self, dag: Dag) -> None:
        for name in {n.component for n in dag.nodes.values()}:
            entry = self.component_entry(name)
            if entry is not None and entry.spec is None:
                raise InvalidSpec("InvalidComponent", f"component '{name}' is invalid: {entry.error}")
            if entry is not None and entry.spec and entry.spec.fallback and entry.spec.fallback.component:
                fb = entry.spec.fallback.component
                if self.component_entry(fb) is None:
                    raise InvalidSpec("UnknownComponent", f"component '{name}' falls back to unknown component '{fb}'")

    async def read_input(self, spec: WorkflowSpec) -> str:
        if spec.input.config_map_key_ref is None:
            return spec.input.data or ""
        ref = spec.input.config_map_key_ref
        self.input_source = (ref.name, ref.key)
        try:
            cm = await self.rt.api.call(self.rt.api.core.read_namespaced_config_map, ref.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise InvalidSpec("InputNotFound", f"input ConfigMap '{ref.name}' not found") from exc
            raise
        data = (cm.data or {}).get(ref.key)
        if data is None:
            raise InvalidSpec("InputNotFound", f"input ConfigMap '{ref.name}' has no key '{ref.key}'")
        return str(data)

    def output_names(self, dag: Dag) -> list[str]:
        return sorted({naming.output_configmap(self.name, n, self.shards) for n in dag.order})

    async def ensure_configmaps(self, spec: WorkflowSpec, data: str) -> None:
        wanted = []
        if spec.input.config_map_key_ref is None:
            wanted.append(render.configmap(self.body, self.input_source[0], {"input": data}, "input"))
        for name in self.status.outputs or []:
            wanted.append(render.configmap(self.body, name, {}, "outputs"))
        for cm in wanted:
            try:
                await self.rt.api.call(
                    self.rt.api.core.create_namespaced_config_map, self.namespace, cm, retry_conflicts=False
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise

    def check_size(self, patch: Mapping[str, Any]) -> None:
        size = len(json.dumps(patch)) + len(json.dumps(self.body.get("spec") or {}))
        if size > MAX_STATUS_BYTES:
            raise InvalidSpec("TooLarge", f"spec and status would take {size} bytes; the limit is {MAX_STATUS_BYTES}")

    async def invalid(self, reason: str, message: str) -> None:
        now = utcnow()
        conds = set_condition(self.status.conditions, "Valid", "False", reason, message, now, self.generation)
        conds = set_condition(conds, "Failed", "True", "Invalid", message, now, self.generation)
        self.status.phase = "Invalid"
        self.status.finished_at = now
        await self.patch_status(
            {
                "phase": "Invalid",
                "message": message,
                "observedGeneration": self.generation,
                "finishedAt": iso(now),
                "conditions": [c.to_wire() for c in conds],
            }
        )
        self.event("Warning", reason, message)
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, "Invalid")

    async def count_rule_match(self, rule: str, now: datetime) -> None:
        key = (self.namespace, rule)
        entry = next((e for e in self.rules if e.ref.name == rule), None)
        seen = entry.status.matches if entry else 0
        count = max(self.rt.rule_matches.get(key, 0), seen) + 1
        self.rt.rule_matches[key] = count
        try:
            await self.rt.api.call(
                self.rt.api.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                self.namespace,
                "routingrules",
                rule,
                {"status": {"matches": count, "lastMatchedAt": iso(now)}},
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- the loop body ------------------------------------------------------------------------------

    def components(self) -> dict[str, ComponentSpec]:
        assert self.run is not None
        names = {n.component for n in self.run.dag.nodes.values()}
        entries: dict[str, ComponentEntry] = {}
        for name in list(names):
            entry = self.component_entry(name)
            if entry is not None and entry.spec is not None:
                entries[name] = entry
                if entry.spec.fallback and entry.spec.fallback.component:
                    fb = self.component_entry(entry.spec.fallback.component)
                    if fb is not None and fb.spec is not None:
                        entries[entry.spec.fallback.component] = fb
        self.rt.seed_breakers(self.namespace, entries)
        return {name: e.spec for name, e in entries.items() if e.spec is not None}

    async def observe(self) -> dict[str, JobResult]:
        assert self.run is not None
        results: dict[str, JobResult] = {}
        for node, attempt in self.run.running_attempts().items():
            job = naming.job_name(self.name, node, attempt)
            if node in self.lost and self.lost[node].attempt == attempt:
                results[node] = self.lost.pop(node)
                continue
            entry = self.views.job(self.namespace, job)
            if entry is None:
                continue
            if entry.state == "Active" and (stuck := self.views.stuck_pod(self.namespace, job)) is not None:
                # the Job would wait forever (or until its deadline): fail this attempt and remove the Job
                message = f"{stuck.waiting}: {stuck.waiting_message}".rstrip(": ")
                results[node] = JobResult(node, attempt, "Failed", job, utcnow(), stuck.waiting, message)
                self.stuck_jobs.append(job)
                continue
            message = ""
            if entry.state != "Active":
                pod = self.views.pod_message(self.namespace, job)
                if pod is None:
                    pod_message = await self.read_pod_message(job)
                    fresh = entry.finished_at is None or utcnow() - entry.finished_at < timedelta(seconds=30)
                    if pod_message is None and entry.state == "Succeeded" and fresh:
                        continue  # the Pod's status has not reached us yet; its event (or a resync) wakes us
                    message = pod_message or ""
                else:
                    message = pod.message or ""
            results[node] = JobResult(node, attempt, entry.state, job, entry.finished_at, entry.reason, message)
        return results

    async def read_pod_message(self, job: str) -> str | None:
        pods = await self.rt.api.call(
            self.rt.api.core.list_namespaced_pod,
            self.namespace,
            label_selector=f"batch.kubernetes.io/job-name={job}",
        )
        for pod in pods.items:
            for cs in (pod.status and pod.status.container_statuses) or []:
                if cs.name == "main" and cs.state and cs.state.terminated:
                    return str(cs.state.terminated.message or "")
        return None

    async def reconcile(self) -> datetime | None:
        assert self.run is not None and self.spec is not None
        self.warn_on_spec_change()
        components = self.components()
        book = self.rt.book(self.namespace)
        results = await self.observe()
        now = datetime.now(UTC)
        plan = self.run.step(results, components, book, now)
        await self.check_missing(plan)
        seen = time.monotonic()
        self.done_at.update({n: seen for n in plan.changed if self.run.nodes[n].phase in ("Succeeded", "FellBack")})
        await self.write_outputs(plan)
        failed_launches = await self.launch(plan, components)
        await self.delete_jobs(plan.delete_jobs + self.stuck_jobs)
        self.stuck_jobs = []
        await self.write_progress(plan, now)
        for launch in plan.launches:
            self.log.debug(
                "node %s: attempt %d started", launch.node, launch.attempt,
                extra={"node": launch.node, "attempt": launch.attempt, "component": launch.component},
            )  # fmt: skip
        for type_, reason, message in plan.events:
            self.event(type_, reason, message)
            self.log.info(message, extra={"reason": reason})
        self.record_metrics(plan, results)
        if book.dirty:
            self.rt.breaker_flush.set()
        if failed_launches:
            return now + timedelta(seconds=1)
        return plan.wake_at

    def warn_on_spec_change(self) -> None:
        generation = self.body["metadata"].get("generation", self.generation)
        if generation != self.generation and self.warned_generation != generation:
            self.warned_generation = generation
            self.event(
                "Warning",
                "SpecChangeRejected",
                "spec is immutable once the workflow has started; the change is ignored (create a new Workflow)",
            )

    async def check_missing(self, plan: Plan) -> None:
        """A Running node whose Job we do not see: confirm with a GET before calling it lost."""
        assert self.run is not None
        for node in plan.missing:
            status = self.run.nodes[node]
            job = naming.job_name(self.name, node, status.attempts)
            try:
                await self.rt.api.call(self.rt.api.batch.read_namespaced_job, job, self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                started = status.started_at or utcnow()
                if utcnow() - started > timedelta(seconds=5):
                    self.lost[node] = JobResult(
                        node,
                        status.attempts,
                        "Lost",
                        job,
                        utcnow(),
                        "JobLost",
                        f"Job {job} disappeared before it finished",
                    )
                    self.rt.wake(self.namespace, self.name)

    async def write_outputs(self, plan: Plan) -> None:
        by_cm: dict[str, dict[str, str]] = {}
        for node, output in plan.outputs.items():
            by_cm.setdefault(naming.output_configmap(self.name, node, self.shards), {})[node] = output
        for cm, data in by_cm.items():
            try:
                await self.rt.api.call(self.rt.api.core.patch_namespaced_config_map, cm, self.namespace, {"data": data})
            except ApiException as exc:
                if exc.status != 404:
                    raise
                body = render.configmap(self.body, cm, data, "outputs")
                await self.rt.api.call(self.rt.api.core.create_namespaced_config_map, self.namespace, body)

    async def launch(self, plan: Plan, components: Mapping[str, ComponentSpec]) -> int:
        """Create the planned Jobs (bounded concurrency). AlreadyExists means the Job is ours: adopt it."""
        assert self.run is not None
        limiter = asyncio.Semaphore(LAUNCH_CONCURRENCY)
        failures = 0

        async def create(launch: Any) -> None:
            nonlocal failures
            assert self.run is not None and self.spec is not None
            node_spec = self.run.dag.nodes[launch.node]
            component = components[launch.component]
            try:
                manifest = render.job(
                    self.body,
                    node=launch.node,
                    attempt=launch.attempt,
                    component_name=launch.component,
                    component=component,
                    node_config=node_spec.config,
                    deps=self.run.dag.deps[launch.node],
                    input_source=self.input_source,
                    output_shards=self.shards,
                )
            except render.RenderError as exc:
                self.lost[launch.node] = JobResult(
                    launch.node, launch.attempt, "Failed", "", utcnow(), "InvalidConfig", str(exc)
                )
                return
            async with limiter:
                try:
                    await self.rt.api.call(
                        self.rt.api.batch.create_namespaced_job,
                        self.namespace,
                        manifest,
                        retry_conflicts=False,
                    )
                    metrics.JOBS_CREATED.labels(self.namespace).inc()
                except ApiException as exc:
                    if not is_status(exc, 409):
                        failures += 1
                        self.log.warning("creating Job for node %s failed: %s", launch.node, exc.reason)
                        return
                    await self.adopt(manifest)
            deps = self.run.dag.deps[launch.node]
            seen = [self.done_at[d] for d in deps if d in self.done_at]
            if seen:
                metrics.SCHEDULING_LATENCY.observe(time.monotonic() - max(seen))

        await asyncio.gather(*(create(launch) for launch in plan.launches))
        if any(node in self.lost for node in self.run.running_attempts()):
            self.rt.wake(self.namespace, self.name)
        return failures

    async def adopt(self, manifest: Mapping[str, Any]) -> None:
        """The Job exists already (a restart, or a retried create that had succeeded): keep it if it is ours."""
        name = manifest["metadata"]["name"]
        try:
            existing = await self.rt.api.call(self.rt.api.batch.read_namespaced_job, name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:  # a 409 that was not AlreadyExists (e.g. an injected fault): create again
                await self.rt.api.call(self.rt.api.batch.create_namespaced_job, self.namespace, manifest)
                return
            raise
        owners = existing.metadata.owner_references or []
        uid = self.body["metadata"]["uid"]
        if not any(o.uid == uid for o in owners):
            self.log.warning("Job %s exists but is not owned by this workflow; leaving it alone", name)

    async def delete_jobs(self, names: list[str]) -> None:
        for name in names:
            try:
                await self.rt.api.call(
                    self.rt.api.batch.delete_namespaced_job,
                    name,
                    self.namespace,
                    propagation_policy="Background",
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def node_wire(self, status: NodeStatus) -> dict[str, Any]:
        assert self.run is not None
        if self.run.compact() and status.phase in ("Succeeded", "FellBack", "Skipped"):
            status = status.model_copy(update={"job": None, "output": None, "started_at": None})
        return status.model_dump(mode="json", by_alias=True)

    async def write_progress(self, plan: Plan, now: datetime) -> None:
        assert self.run is not None
        if not plan.changed:
            return
        patch: dict[str, Any] = {
            "nodes": {n: self.node_wire(self.run.nodes[n]) for n in sorted(plan.changed)},
            "progress": self.run.progress,
        }
        await self.patch_status(patch)

    def record_metrics(self, plan: Plan, results: Mapping[str, JobResult]) -> None:
        assert self.run is not None
        for node in plan.changed:
            status = self.run.nodes[node]
            ended = status.phase in ("Succeeded", "FellBack", "Failed", "Retrying") and node in results
            if ended and status.started_at and status.finished_at:
                metrics.NODE_DURATION.labels(self.namespace, status.phase).observe(
                    max(0.0, (status.finished_at - status.started_at).total_seconds())
                )
            if status.phase == "Retrying":
                metrics.RETRIES.labels(self.namespace).inc()

    # -- the end ------------------------------------------------------------------------------------

    async def finish(self) -> None:
        assert self.run is not None
        now = utcnow()
        failed = sorted(n for n, s in self.run.nodes.items() if s.phase == "Failed")
        gen = self.status.observed_generation or self.generation
        if self.run.succeeded:
            phase, type_, reason = "Succeeded", "Complete", "Succeeded"
            fell = sum(1 for s in self.run.nodes.values() if s.phase == "FellBack")
            message = f"all {self.run.total} nodes succeeded" + (f" ({fell} fell back)" if fell else "")
        else:
            phase, type_ = "Failed", "Failed"
            reason = self.run.failed_reason or "NodeFailed"
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            message = (
                "the workflow's activeDeadlineSeconds passed"
                if reason == "DeadlineExceeded"
                else f"{len(failed)} node(s) failed: {shown}"
            )
        conds = set_condition(self.status.conditions, type_, "True", reason, message, now, gen)
        self.status.conditions = conds
        self.status.phase = phase  # type: ignore[assignment]
        self.status.finished_at = now
        await self.patch_status(
            {
                "phase": phase,
                "progress": self.run.progress,
                "finishedAt": iso(now),
                "message": message,
                "conditions": [c.to_wire() for c in conds],
            }
        )
        self.event("Normal" if phase == "Succeeded" else "Warning", phase, message)
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, phase)

    async def expire_when_due(self, stopped: Any) -> None:
        """ttlSecondsAfterFinished: delete the Workflow (its Jobs and ConfigMaps go with it)."""
        ttl = (self.body.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = self.status.finished_at
        if ttl is None or finished is None:
            return
        due = finished + timedelta(seconds=int(ttl))
        while not stopped and datetime.now(UTC) < due:
            await stopped.wait(min(60.0, (due - datetime.now(UTC)).total_seconds()))
        if stopped:
            return
        try:
            await self.rt.api.call(
                self.rt.api.custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                "workflows",
                self.name,
                propagation_policy="Background",
            )
            self.log.info("deleted after ttlSecondsAfterFinished=%s", ttl)
        except ApiException as exc:
            if exc.status != 404:
                raise
        metrics.WORKFLOW_PHASE.forget(self.namespace, self.name)


__all__ = ["COMPACT_THRESHOLD", "WorkflowRunner"]
