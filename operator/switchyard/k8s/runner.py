"""Drive one Workflow from Pending to a final phase: the loop that ties the rooms together.

One `WorkflowRunner` per Workflow (a kopf daemon) is the only writer of that Workflow's status. It wakes on
Job/Pod/Workflow watch events, on the nearest retry/deadline/pending timer, and on a slow resync. Each pass:
observe (Jobs: `observer`; the facts node features asked for: `nodefacts`) -> decide (the pure engine,
`logic.scheduler`, which offers ready nodes to the node features of `logic.features`) -> act in a
crash-safe order: outputs (`configmaps`), then Jobs (`launcher`), then status (`statuswriter`). A run starts
from one `prepare.StartPlan`; the run's features come from `nodefeatures`; breaker persistence is in
`breakers`. `docs/architecture.md` walks through a pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard import metrics
from switchyard.k8s import breakers, nodefeatures, notifications, prepare, slots, stats, templates
from switchyard.k8s.artifactrun import RunArtifacts, StoreTrouble, open_store
from switchyard.k8s.configmaps import HeldOutputs, Leftover, OwnedConfigMaps
from switchyard.k8s.errors import not_found
from switchyard.k8s.launcher import Launcher
from switchyard.k8s.nodefacts import NodeFacts
from switchyard.k8s.observer import JobObserver, Observation
from switchyard.k8s.resultcache import ResultCache
from switchyard.k8s.runtime import Runtime, Views
from switchyard.k8s.staging import Staging
from switchyard.k8s.statuswriter import Emit, ObjectTooLarge, StatusWriter, iso, utcnow
from switchyard.logic.analysis import InputFacts
from switchyard.logic.breaker import BreakerBook
from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.exits import SUMMARY_KEY
from switchyard.logic.foreach import output_key, parse_instance
from switchyard.logic.plan import plan_keys
from switchyard.logic.priority import node_runtimes
from switchyard.logic.routing import RouteDecision
from switchyard.logic.scheduler import JobResult, Launch, Plan, WorkflowRun
from switchyard.logic.stats import learned_estimates
from switchyard.models.component import ComponentSpec
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.labels import ANNOTATION_STOP, ANNOTATION_STOP_EXIT
from switchyard.models.workflow import WorkflowSpec, WorkflowStatus

RESYNC_SECONDS = 30.0
LEFTOVER_RETRY_SECONDS = 2.0
MAX_PASSES = 8  # passes in one wake-up while launches come back adopted or refused


@dataclass(frozen=True)
class Seen:
    """What a pass observed: the usable Components, the breaker book, the Jobs' results, the features' facts."""

    components: dict[str, ComponentSpec]
    book: BreakerBook
    jobs: Observation
    results: dict[str, JobResult]
    facts: dict[str, dict[str, object]]


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
        self.log = logger
        meta = body["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta["namespace"]
        self.uid: str = meta["uid"]
        self.generation: int = meta.get("generation", 1)
        self.status = WorkflowStatus.model_validate(body.get("status") or {})
        self.configmaps = OwnedConfigMaps(rt.api, body)
        self.held = HeldOutputs(self.configmaps, self.name)
        self.writer = StatusWriter(rt.api, body, self.status, emit, before_write=self.held.write)
        self.registry = prepare.Registry(rt.api, views, self.namespace)
        self.observer = JobObserver(rt.api, views, self.namespace, self.uid)
        self.launcher = Launcher(rt.api, body, logger, sidecar_injection=rt.options.allow_sidecar_injection)
        self.run: WorkflowRun | None = None
        self.input_source: tuple[str, str] = prepare.input_source(self.name, None)
        self.refused: dict[str, JobResult] = {}  # launches the API refused: fed to the next pass
        self.warned_generation: int | None = None
        self.artifacts: RunArtifacts | None = None  # the run's artifact store, when it has one
        self.facts = NodeFacts()  # the observe half of node features (`k8s.nodefeatures`)
        self.cache: ResultCache | None = None  # the result cache (a run begun by this process, with a store)

    # -- the daemon ---------------------------------------------------------------------------------

    async def serve(self, stopped: Any) -> None:
        trigger = self.rt.wakeup(self.namespace, self.name)
        relay = asyncio.ensure_future(self.relay_stop(stopped, trigger))
        try:
            if self.status.phase in ("Succeeded", "Failed", "Invalid"):
                self.views.forget_finished(self.namespace, self.name, self.uid)  # e.g. listed after a restart
                await self.expire_when_due(stopped)
                return
            try:
                outcome = await self.drive(trigger, stopped)
            except ObjectTooLarge as exc:  # etcd refused the status: permanent, so end it (never retry forever)
                await self.writer.too_large(str(exc))
                outcome = "finished"
            if outcome == "finished":
                self.views.forget_finished(self.namespace, self.name, self.uid)
            if outcome != "stopped":
                await self.expire_when_due(stopped)
        finally:
            relay.cancel()
            self.rt.forget(self.namespace, self.name, trigger)
            slots.book(self.rt, self.namespace).withdraw(self.name)  # a stopped runner's nodes wait no more here

    async def drive(self, trigger: asyncio.Event, stopped: Any) -> str:
        """Start, then reconcile until the run finishes: "finished", "invalid" (or not started), "stopped"."""
        if not await self.start(stopped):
            return "invalid"
        while not stopped:
            trigger.clear()
            wake_at = await self.reconcile()
            if self.run is not None and self.run.finished:
                await self.finish()
                return "finished"
            await self.wait(trigger, stopped, wake_at)
        return "stopped"

    @staticmethod
    async def relay_stop(stopped: Any, trigger: asyncio.Event) -> None:
        """kopf's stop request wakes the runner like any other news (one task per runner, not per wait)."""
        await stopped.wait()
        trigger.set()

    @staticmethod
    async def wait(trigger: asyncio.Event, stopped: Any, wake_at: datetime | None) -> None:
        """Until news (a watch event, a stop request) or the next timer or resync: a timer handle sets the
        same trigger, so a wait costs no task (two tasks per wait were ~4 % of the CPU with 400 Workflows)."""
        if stopped:
            return
        timeout = RESYNC_SECONDS
        if wake_at is not None:
            timeout = min(timeout, max(0.0, (wake_at - datetime.now(UTC)).total_seconds()) + 0.05)
        alarm = asyncio.get_running_loop().call_later(timeout, trigger.set)
        try:
            await trigger.wait()
        finally:
            alarm.cancel()

    # -- start: validate and route, or pick up after a restart ----------------------------------------

    async def start(self, stopped: Any) -> bool:
        """Validate, route and set up (or resume). False when the workflow is Invalid (or the daemon stops)."""
        while not stopped:
            try:
                async with self.rt.starting:  # a burst of new Workflows prepares a few at a time
                    # not kept: the run keeps what it needs of it (a template run's is in status.template)
                    spec = await templates.workflow_spec(self.rt.api, self.body, self.status)
                    await self.registry.load()
                    if self.status.phase == "Running" and self.status.started_at is not None:
                        return await self.resume(spec)
                    return await self.begin(spec)
            except InvalidSpec as exc:
                self.run = None
                for rule in exc.skipped_rules:  # no route: the message names them; the metric counts them
                    metrics.ROUTING_RULE_ERRORS.labels(self.namespace, rule).inc()
                await self.writer.invalid(exc.reason, exc.message)
                return False
            except (Leftover, StoreTrouble) as exc:
                what = "the artifact store" if isinstance(exc, StoreTrouble) else "the garbage collector"
                message = f"waiting for {what}: {exc}"
                if message != self.status.message:
                    self.status.message = message
                    await self.writer.waiting(message)
                await stopped.wait(LEFTOVER_RETRY_SECONDS)
        return False

    async def open_artifacts(self, spec: WorkflowSpec) -> None:
        self.artifacts = await open_store(self.rt.api, self.namespace, self.name, self.uid, spec, self.rt.options)
        self.observer.artifacts = self.artifacts

    async def begin(self, spec: WorkflowSpec) -> bool:
        await self.open_artifacts(spec)
        now = utcnow()
        params = templates.params(self.status)  # RoutingRules read a template run's parameter values
        known = breakers.states(self.rt, self.registry.views, self.namespace, now)  # `components.NAME.breaker`
        start = await prepare.plan_start(
            self.rt.api, self.registry, self.body, spec, self.artifacts, now, params, known
        )
        decision = start.decision
        assert decision is not None
        self.use(start)
        if self.artifacts is not None:  # the result cache's entries live in the store
            self.cache = ResultCache(self.artifacts, self.namespace, self.name, start.input_identity)
        reused = start.reused
        self.status.nodes = {**self.status.nodes, **{node: status for node, (status, _) in reused.items()}}
        run = await self.make_run(start, now)
        patch = self.writer.started_patch(run, start.route, start.outputs, now, reused=set(reused))
        prepare.check_size(self.body, patch, start.dag, run.compact())
        if start.stored_input is not None:
            await self.configmaps.ensure(self.input_source[0], {"input": start.stored_input}, "input")
        for name in start.outputs:
            await self.configmaps.ensure(name, {}, "outputs")
        self.held.hold({output_key(node): output for node, (_, output) in reused.items() if output is not None})
        await self.writer.started(patch)  # writes them first
        if decision.source == "Rule" and decision.rule:
            await self.count_rule_match(decision.rule, now)
        self.report_skipped_rules(decision, now)
        self.writer.event(
            "Normal", "Started", f"routed ({decision.summary}): {len(start.dag.nodes)} nodes, {decision.reason}"
        )
        if reused and spec.reuse is not None:
            instances = sum(1 for node in reused if parse_instance(node) is not None)
            what = f"{len(reused) - instances} node(s)" + (f" and {instances} forEach instance(s)" if instances else "")
            self.writer.event("Normal", "Reused", f"{what} reused from workflow {spec.reuse.workflow}")
        metrics.WORKFLOW_PHASE.record(self.namespace, self.name, "Running")
        self.run = run
        return True

    async def resume(self, spec: WorkflowSpec) -> bool:
        await self.open_artifacts(spec)
        if self.artifacts is not None:
            self.artifacts.recorded_bytes = sum(n.artifact_bytes or 0 for n in self.status.nodes.values())
        start = prepare.plan_resume(self.name, spec, self.status, self.registry)
        self.use(start)
        for name in start.outputs:  # ours, or never touched
            await self.configmaps.ensure(name, {}, "outputs")
        self.run = await self.make_run(start, self.status.started_at or utcnow())
        self.log.info("resumed workflow at %s", self.run.progress)
        return True

    def use(self, start: prepare.StartPlan) -> None:
        """Where this run's Jobs read their input and how its outputs are sharded."""
        self.input_source = start.input_source
        self.held.shards = start.shards

    async def make_run(self, start: prepare.StartPlan, started: datetime) -> WorkflowRun:
        """The engine, started from the node statuses read (after a restart) or reused; from now on the run
        holds the nodes' state, so the parsed copies are dropped (at 20 nodes x 1,000 Workflows they add up).

        Its ready order is planned in a worker thread when the cap can bind: up to ~0.5 s of CPU for a DAG of
        thousands of nodes (`logic.plan`), which the event loop must not wait out."""
        spec, dag = start.spec, start.dag
        runtimes = node_runtimes(dag, self.runtime_estimates(dag), spec.parallelism)  # forEach: x instances
        if len(dag.nodes) > spec.parallelism:
            keys = await asyncio.to_thread(plan_keys, dag, runtimes, spec.parallelism)
        else:
            keys = plan_keys(dag, runtimes, spec.parallelism)  # nothing to plan: every ready node starts at once
        run = WorkflowRun(
            self.name,
            dag,
            self.status.nodes,
            parallelism=spec.parallelism,
            failure_policy=spec.failure_policy,
            started_at=started,
            deadline_seconds=spec.active_deadline_seconds,
            uid=self.uid,
            keys=keys,
            features=nodefeatures.features(spec, dag, self.facts, self.feature_context(spec)),
            exit_nodes=[node.name for node in spec.on_exit],
        )
        run.slots = slots.book(self.rt, self.namespace)  # maxConcurrentRuns (`k8s.slots`)
        run.stats = stats.book(self.rt, self.namespace)  # component statistics (`k8s.stats`)
        self.status.nodes = {}
        return run

    def feature_context(self, spec: WorkflowSpec) -> nodefeatures.RunContext:
        async def read_input() -> InputFacts:
            return await prepare.input_facts(self.rt.api, self.body, spec, self.artifacts)

        params = templates.params(self.status)  # a WorkflowTemplate run's parameter values, else none
        manifest = self.artifacts.artifacts_of if self.artifacts is not None else None
        return nodefeatures.RunContext(self.rt.api, self.namespace, self.name, self.held, read_input, params, manifest)

    def runtime_estimates(self, dag: Dag) -> dict[str, float]:
        """Component -> its `runtimeEstimateSeconds`, else its observed median run time (`status.stats`), for
        the order in which ready nodes start."""
        entries = self.registry.specs(dag)
        specs = {name: e.spec for name, e in entries.items() if e.spec is not None}
        return learned_estimates(specs, {name: stats.current(self.rt, e) for name, e in entries.items()})

    def report_skipped_rules(self, decision: RouteDecision, now: datetime) -> None:
        """Each rule that failed to evaluate is a non-match, counted in a metric; its `RuleSkipped` Warning
        goes on the RoutingRule, at most once a minute per rule (one broken rule is one problem, not an
        Event per Workflow)."""
        entries = {entry.ref.name: entry for entry in self.registry.rules}
        for rule, message in zip(decision.skipped_rules, decision.skipped, strict=True):
            metrics.ROUTING_RULE_ERRORS.labels(self.namespace, rule).inc()
            held = self.rt.rule_skip_events.allow((self.namespace, rule), now)
            entry = entries.get(rule)
            if held is None or entry is None:
                continue
            note = f"; {held} more since the last such Event" if held else ""
            text = f"{message} (workflow {self.name}{note}; at most one Event a minute per rule)"
            self.writer.emit(entry.ref.body(), "Warning", "RuleSkipped", text)

    async def count_rule_match(self, rule: str, now: datetime) -> None:
        key = (self.namespace, rule)
        entry = next((e for e in self.registry.rules if e.ref.name == rule), None)
        seen = entry.status.matches if entry else 0
        count = max(self.rt.rule_matches.get(key, 0), seen) + 1
        self.rt.rule_matches[key] = count
        await self.rt.api.patch_status(
            "routingrules", self.namespace, rule, {"matches": count, "lastMatchedAt": iso(now)}
        )

    # -- the loop body ------------------------------------------------------------------------------

    def components(self, now: datetime) -> dict[str, ComponentSpec]:
        assert self.run is not None
        entries = self.registry.specs(self.run.dag)
        breakers.seed(self.rt, self.namespace, entries, now)
        return {name: e.spec for name, e in entries.items() if e.spec is not None}

    async def reconcile(self) -> datetime | None:
        """Passes until nothing launched comes back adopted or refused; the nearest wake-up time."""
        assert self.run is not None
        wake_at: datetime | None = None
        for attempt in range(MAX_PASSES):
            again, wake = await self.one_pass(full=attempt > 0)  # adopted Jobs may be done: look at all
            if wake is not None and (wake_at is None or wake < wake_at):
                wake_at = wake
            if not again or self.run.finished:
                break
        else:
            wake_at = datetime.now(UTC) + timedelta(seconds=1)
        return wake_at

    async def one_pass(self, full: bool = False) -> tuple[bool, datetime | None]:
        """Observe (the Jobs with news, all of them when `full`; the facts features asked for), decide (the
        pure engine), act on its plan. True: pass again at once (launches adopted or refused, facts wanted,
        running instances restored)."""
        assert self.run is not None
        self.warn_on_spec_change()
        now = datetime.now(UTC)
        seen = await self.observe(now, full)
        plan = self.decide(seen, now)
        return await self.act(plan, seen, now)

    async def observe(self, now: datetime, full: bool) -> Seen:
        assert self.run is not None
        components = self.components(now)
        changed = self.rt.take_changed(self.namespace, self.name)
        jobs = await self.observer.observe(self.run, components, now, None if full else changed)
        results = {**jobs.results, **self.refused}
        self.refused = {}
        if results or self.run.ready or self.run.slot_waiting or self.run.retrying:  # a slot taken or freed
            slots.refresh(self.rt, self.views, self.namespace, slots.limited(components), now)
        facts = await self.facts.gather(self.run) if self.facts.wanted else {}
        return Seen(components, breakers.book(self.rt, self.namespace), jobs, results, facts)

    def decide(self, seen: Seen, now: datetime) -> Plan:
        assert self.run is not None
        stop, skip_exits = self.stop_request() is not None, self.annotation(ANNOTATION_STOP_EXIT) is not None
        return self.run.step(
            seen.results, seen.components, seen.book, now, seen.facts, stop=stop, skip_exits=skip_exits
        )

    async def act(self, plan: Plan, seen: Seen, now: datetime) -> tuple[bool, datetime | None]:
        """In a crash-safe order: outputs a launch reads, Jobs, deletions, status, Events."""
        assert self.run is not None
        components, book = seen.components, seen.book
        planned = plan.launches  # the cache may answer some (below): their slots go back with the refused ones
        done = time.monotonic()
        self.launcher.done_at.update(
            {n: done for n in plan.changed if self.run.nodes[n].phase in ("Succeeded", "FellBack")}
        )
        self.held.hold(plan.outputs)
        if self.cache is not None:
            self.cache.note_outputs(plan.outputs)
            await self.cache.record(self.run, plan.changed, seen.results, now)
            hits = await self.cache.answer(self.run, plan.launches, components, now)
            plan.launches = [launch for launch in plan.launches if launch.node not in hits]
            self.refused.update(hits)  # the next pass takes them as the attempts' results
        reads = (self.run.reads_of(launch.node) for launch in plan.launches)
        if self.held.read_by(reads) or (plan.launches and SUMMARY_KEY in self.held.outputs):
            await self.held.write()
        if self.artifacts is not None and plan.launches:  # fan-in manifests before the Jobs that read them
            troubles = await self.artifacts.write_fan_ins(self.run, plan.launches, now)
            plan.launches = [launch for launch in plan.launches if launch.node not in troubles]
            self.refused.update(troubles)  # the next pass takes them as the attempts' results
        report = await self.launcher.launch(
            self.run, plan.launches, components, self.input_source, self.held.shards, now, self.staging
        )
        launched = [launch for launch in plan.launches if launch.node not in report.refused]
        went = {launch.node for launch in launched}
        refused = [(x.component, self.run.job_name(x.node, x.attempt)) for x in planned if x.node not in went]
        await slots.after_pass(self.rt, self.namespace, components, refused)
        self.observer.created(
            {self.run.job_name(launch.node, launch.attempt): launch.node for launch in launched},
            {
                self.run.job_name(launch.node, launch.attempt): seconds
                for launch in launched
                if (spec := components.get(launch.component)) is not None
                and (seconds := spec.timeout_seconds) is not None
            },
        )
        await self.launcher.delete(plan.delete_jobs + seen.jobs.delete_jobs)
        book.claim(self.name, self.run.running_components(), now)
        written_by = await self.writer.progress(self.run, plan)
        for type_, reason, message in plan.events:
            self.writer.event(type_, reason, message)
            self.log.info(message, extra={"reason": reason})
        self.record_metrics(plan, seen.results)
        if book.dirty or book.transitions or stats.book(self.rt, self.namespace).dirty:
            self.rt.breaker_flush.set()  # breakers and statistics (`k8s.breakers.flush`)
        self.refused.update(report.refused)
        self.facts.want(plan.wanted)
        wakes = [w for w in (plan.wake_at, seen.jobs.wake_at, written_by) if w is not None]
        again = self.refused or report.adopted or plan.wanted or plan.restored  # (the next pass looks at all)
        return bool(again), min(wakes, default=None)

    def staging(self, launch: Launch) -> Staging | None:
        """What the launch's staging containers fetch and where they upload (None: no artifact store)."""
        if self.artifacts is None or self.run is None:
            return None
        upstream = {dep: self.run.nodes[dep].artifact_manifest for dep in self.run.inputs_of(launch.node)}
        return self.artifacts.staging(launch.node, launch.attempt, upstream, self.run.item_artifact(launch.node))

    def stop_request(self) -> str | None:
        """The `switchyard.dev/stop` annotation's text, when someone asked this workflow to stop."""
        return self.annotation(ANNOTATION_STOP)

    def annotation(self, key: str) -> str | None:
        value = (self.body["metadata"].get("annotations") or {}).get(key)
        return None if value is None else str(value)

    def warn_on_spec_change(self) -> None:
        generation = self.body["metadata"].get("generation", self.generation)
        if generation != self.generation and self.warned_generation != generation:
            self.warned_generation = generation
            self.writer.event(
                "Warning",
                "SpecChangeRejected",
                "spec is immutable once the workflow has started; the change is ignored (create a new Workflow)",
            )

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
        await self.writer.finished(self.run, self.stop_request())
        await slots.run_ended(self.rt, self.namespace, self.name)
        breakers.book(self.rt, self.namespace).release_workflow(self.name)
        self.rt.breaker_flush.set()

    async def expire_when_due(self, stopped: Any) -> None:
        """ttlSecondsAfterFinished: delete the Workflow (its Jobs and ConfigMaps go with it)."""
        notifications.start(self.rt.api, self.body, self.status, self.writer.event)  # spec.notify, never awaited
        ttl = templates.ttl_seconds(self.body, self.status)
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
            if not not_found(exc):
                raise
        metrics.WORKFLOW_PHASE.forget(self.namespace, self.name)
