"""Before a Workflow runs: read its spec and input, route it, and check everything a spec can get wrong.

`plan_start` (a new run) and `plan_resume` (after a restart) each give the runner one `StartPlan`: the DAG,
where Jobs read the input, the route, the reused nodes and the outputs ConfigMaps. The runner acts on it
(ConfigMaps, the started status, Events). Every problem of the spec (or of what it names) becomes
`InvalidSpec`, which the runner reports as phase `Invalid` with a condition and an Event; nothing here writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchyard.celpool.route import route_input
from switchyard.k8s import render, reuse
from switchyard.k8s.artifactrun import RunArtifacts
from switchyard.k8s.client import Api
from switchyard.k8s.entries import ComponentEntry, RuleEntry, component_entry, pydantic_message, rule_entry
from switchyard.k8s.errors import not_found
from switchyard.k8s.reuse import routed_nodes
from switchyard.k8s.runtime import Views
from switchyard.logic import naming
from switchyard.logic.analysis import InputFacts, analyse_input
from switchyard.logic.cachekey import digest_text
from switchyard.logic.dag import Dag, check_components
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.exits import SUMMARY_KEY, check_exit_nodes
from switchyard.logic.foreach import check_for_each, output_slots
from switchyard.logic.health import ComponentHealth
from switchyard.logic.health import from_status as health_from_status
from switchyard.logic.limits import (
    MANAGED_ENTRY_BYTES,
    MAX_OBJECT_BYTES,
    check_input_size,
    fields_v1_size,
    json_size,
    node_fields_bytes,
)
from switchyard.logic.routing import RouteDecision, health_wanted, path_to_nodes
from switchyard.logic.scheduler import COMPACT_MESSAGES, COMPACT_TEXT
from switchyard.logic.when import check_whens
from switchyard.models.common import MAX_NODES
from switchyard.models.component import ComponentSpec
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.workflow import (
    MAX_FOREACH_ITEMS,
    AlternativeEstimate,
    NodeSpec,
    NodeStatus,
    RouteStatus,
    WorkflowSpec,
    WorkflowStatus,
)

MAX_STATUS_BYTES = 1_000_000  # metadata, spec and the starting status: room left for the run's progress
COMPACT_NODE_BYTES = 160  # the most one node takes in a compact status, besides its name and message (node_wire)
COMPACT_NODE_FIELDS = ("phase", "attempts", "finishedAt", "nextRetryAt", "reason", "message")  # ... its fields


def parse_spec(body: Mapping[str, Any]) -> WorkflowSpec:
    try:
        return WorkflowSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        raise InvalidSpec("InvalidSpec", pydantic_message(exc)) from exc


class Registry:
    """The Components and RoutingRules of a namespace: as listed at start, then fresher from the watch cache."""

    def __init__(self, api: Api, views: Views, namespace: str) -> None:
        self.api = api
        self.views = views
        self.namespace = namespace
        self.listed: dict[str, ComponentEntry] = {}
        self.rules: list[RuleEntry] = []

    async def load(self) -> None:
        """The API's view now (the watch caches may lag a fresh apply)."""
        listed = await self.api.list_objects(GROUP, VERSION, self.namespace, "components")
        self.listed = {e.ref.name: e for e in map(component_entry, listed.get("items", []))}
        listed = await self.api.list_objects(GROUP, VERSION, self.namespace, "routingrules")
        self.rules = [rule_entry(item) for item in listed.get("items", [])]

    def entry(self, name: str) -> ComponentEntry | None:
        return self.views.component(self.namespace, name) or self.listed.get(name)

    def names(self) -> set[str]:
        return set(self.listed)

    def health(
        self, wanted: frozenset[str] | None, breakers: Mapping[str, tuple[str, bool]] | None = None
    ) -> dict[str, ComponentHealth]:
        """The health of the named Components that exist (None: all of them), for routing. `breakers`: the
        operator's breaker book (fresher than the persisted status): (state, admitting a run now) by component."""
        names = self.names() if wanted is None else {name for name in wanted if self.entry(name) is not None}
        found: dict[str, ComponentHealth] = {}
        for name in sorted(names):
            entry = self.entry(name)
            if entry is None:
                continue
            spec = entry.spec
            state, admitting = (breakers or {}).get(name, (None, True))
            found[name] = health_from_status(
                entry.health,
                state,
                retry_limit=spec.retry.limit if spec is not None else 0,
                runtime_estimate=spec.runtime_estimate_seconds if spec is not None else None,
                admitting=admitting,
            )
        return found

    def specs(self, dag: Dag) -> dict[str, ComponentEntry]:
        """The usable entries of the DAG's components and of their fallback components."""
        entries: dict[str, ComponentEntry] = {}
        for name in dag.components:
            entry = self.entry(name)
            if entry is None or entry.spec is None:
                continue
            entries[name] = entry
            fallback = entry.spec.fallback.component if entry.spec.fallback else None
            if fallback and (fb := self.entry(fallback)) is not None and fb.spec is not None:
                entries[fallback] = fb
        return entries


async def read_input(api: Api, namespace: str, spec: WorkflowSpec) -> tuple[str, tuple[str, str] | None]:
    """The input data, and where Jobs read it from when it is not ours to store (a configMapKeyRef)."""
    if spec.input.config_map_key_ref is None:
        return spec.input.data or "", None
    ref = spec.input.config_map_key_ref
    try:
        cm = await api.call(api.core.read_namespaced_config_map, ref.name, namespace)
    except ApiException as exc:
        if not_found(exc):
            raise InvalidSpec("InputNotFound", f"input ConfigMap '{ref.name}' not found") from exc
        raise
    data = (cm.data or {}).get(ref.key)
    if data is None:
        raise InvalidSpec("InputNotFound", f"input ConfigMap '{ref.name}' has no key '{ref.key}'")
    check_input_size(str(data), inline=False)
    return str(data), (ref.name, ref.key)


async def decide_route(
    spec: WorkflowSpec,
    data: str,
    labels: Mapping[str, str],
    rules: list[RuleEntry],
    size: int | None = None,
    content_type: str | None = None,
    params: Mapping[str, str] | None = None,
    health: Mapping[str, ComponentHealth] | None = None,
) -> RouteDecision:
    """Explicit nodes, else RoutingRules (evaluated off the event loop, each within its budget), else analysis.
    `health`: the namespace's Components (the rules' `components`, the alternatives' costs)."""
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
    facts = analyse_input(data, content_type or spec.input.content_type, labels, size=size)
    compiled = [e.rule for e in rules if e.rule is not None]
    selector = spec.routing.rule_selector.match_labels if spec.routing.rule_selector else None
    return await route_input(facts, compiled, selector, spec.routing.analysis, params=params, health=health)


def route_status(decision: RouteDecision) -> RouteStatus:
    nodes = decision.nodes
    chain = decision.source != "Explicit" and list(nodes) == path_to_nodes(decision.path)
    return RouteStatus(
        source=decision.source,
        rule=decision.rule,
        path=decision.path,
        reason=decision.reason,
        summary=decision.summary,
        nodes=None if decision.source == "Explicit" or chain else list(nodes),
        chosen=decision.chosen,
        alternatives=[
            AlternativeEstimate(
                index=cost.index,
                components=list(cost.components),
                estimate_seconds=None if math.isinf(cost.seconds) else round(cost.seconds, 3),
                detail=cost.detail,
            )
            for cost in decision.alternatives
        ]
        or None,
    )


def build_dag(
    nodes: list[NodeSpec], registry: Registry, exits: Sequence[NodeSpec] = (), parallelism: int | None = None
) -> Dag:
    """Validate the DAG (with its exit nodes, `spec.onExit`) and what it names: size, structure, components,
    each node's merged config, `when` and `forEach` (`maxParallel` within `parallelism`, when given)."""
    if len(nodes) > MAX_NODES:
        raise InvalidSpec("TooLarge", f"the workflow has {len(nodes)} nodes; the limit is {MAX_NODES}")
    check_exit_nodes(nodes, exits)
    nodes = [*nodes, *exits]
    dag = Dag.build(nodes)
    check_components(nodes, registry.names() | _watched(registry, nodes))
    for name in {n.component for n in nodes}:
        entry = registry.entry(name)
        if entry is not None and entry.spec is None:
            raise InvalidSpec("InvalidComponent", f"component '{name}' is invalid: {entry.error}")
    check_configs(dag, registry)
    check_whens(dag)
    check_for_each(dag, parallelism if parallelism is not None else MAX_FOREACH_ITEMS)
    return dag


def _watched(registry: Registry, nodes: list[NodeSpec]) -> set[str]:
    return {n.component for n in nodes if registry.entry(n.component) is not None}


def check_configs(dag: Dag, registry: Registry) -> None:
    """A node config too large for a Job is the Workflow's error, found before any Job runs."""
    for node in dag.nodes.values():
        entry = registry.entry(node.component)
        specs: list[ComponentSpec] = [entry.spec] if entry is not None and entry.spec is not None else []
        fallback = specs[0].fallback.component if specs and specs[0].fallback else None
        if fallback and (fb := registry.entry(fallback)) is not None and fb.spec is not None:
            specs.append(fb.spec)
        for spec in specs:
            try:
                render.node_config_json(spec, node.name, node.config)
            except render.RenderError as exc:
                raise InvalidSpec("ConfigTooLarge", str(exc)) from exc


def check_size(body: Mapping[str, Any], patch: Mapping[str, Any], dag: Dag, compact: bool) -> None:
    """The object as etcd stores it: metadata (its managedFields included: the creator's name every spec field
    again), spec and the starting status with the operator's managedFields entry must fit MAX_STATUS_BYTES;
    plus the largest status the run can reach (every node finished, compact) and its field names,
    MAX_OBJECT_BYTES (etcd's 1.5 MiB less a reserve for other writers' metadata)."""
    metadata = body.get("metadata") or {}
    managed = json_size(metadata["managedFields"]) if metadata.get("managedFields") else 0
    status_fields = MANAGED_ENTRY_BYTES + fields_v1_size(dict(patch))
    size = json_size(metadata) + json_size(body.get("spec") or {}) + json_size(patch) + status_fields
    if size > MAX_STATUS_BYTES:
        raise InvalidSpec(
            "TooLarge",
            f"metadata, spec and status would take {size} bytes ({managed} of them managedFields); "
            f"the limit is {MAX_STATUS_BYTES}",
        )
    if compact:
        messages = COMPACT_MESSAGES * (COMPACT_TEXT * 3 + 16)  # a preview char may take 3 bytes in JSON
        per_node = sum(
            json_size(name) + COMPACT_NODE_BYTES + node_fields_bytes(name, COMPACT_NODE_FIELDS) for name in dag.nodes
        )
        worst = size + messages + per_node
        if worst > MAX_OBJECT_BYTES:
            raise InvalidSpec(
                "TooLarge",
                f"metadata, spec and status could grow to {worst} bytes as nodes finish ({managed} of them "
                f"managedFields, the field names of the spec; about as many again for the status); etcd takes "
                f"{MAX_OBJECT_BYTES} (1.5 MiB less a reserve)",
            )


def input_source(workflow: str, external: tuple[str, str] | None) -> tuple[str, str]:
    return external or (naming.input_configmap(workflow), "input")


@dataclass
class StartPlan:
    """What a run starts from, new or resumed; the runner creates what it names and writes the status."""

    spec: WorkflowSpec
    dag: Dag
    input_source: tuple[str, str]  # (ConfigMap, key) Jobs read the input from
    shards: int  # outputs ConfigMaps of the run
    outputs: list[str]  # their names
    stored_input: str | None = None  # new runs: the input ConfigMap's content (None: not ours to store)
    decision: RouteDecision | None = None  # new runs: how the DAG was chosen
    # `spec.reuse`: node (or forEach instance) -> its status, its full output (None: a failed instance's record)
    reused: dict[str, tuple[NodeStatus, str | None]] = field(default_factory=dict)
    # new runs: what the result cache keys the input by (inline data's digest; an artifact's key, size, ETag)
    input_identity: str | None = None

    @property
    def route(self) -> RouteStatus:
        assert self.decision is not None
        return route_status(self.decision)


async def plan_start(
    api: Api,
    registry: Registry,
    body: Mapping[str, Any],
    spec: WorkflowSpec,
    artifacts: RunArtifacts | None,
    now: datetime,
    params: Mapping[str, str] | None = None,
    breakers: Mapping[str, tuple[str, bool]] | None = None,
) -> StartPlan:
    """Read the input (or peek at an artifact input), route, build and check the DAG, find reusable nodes.
    `params`: a WorkflowTemplate run's parameter values, which RoutingRules read as `params`.
    `breakers`: the breaker book now, by component: (state, admitting a run), see `k8s.breakers.states`."""
    meta = body["metadata"]
    data, external, size, content_type = await peek_input(api, meta["namespace"], spec, artifacts)
    labels = dict(meta.get("labels") or {})
    health = None
    if not spec.nodes:
        health = registry.health(health_wanted([e.rule for e in registry.rules if e.rule is not None]), breakers)
    decision = await decide_route(spec, data, labels, registry.rules, size, content_type, params, health)
    dag = build_dag(list(decision.nodes), registry, spec.on_exit, spec.parallelism)
    shards = naming.output_shards(output_slots(dag))
    reused = await reuse.reused_nodes(api, meta["namespace"], spec, dag, now, artifacts)
    stored = None
    if external is None:
        stored = "" if spec.input.artifact is not None else data  # an artifact input is staged from the store
    if artifacts is not None and spec.input.artifact is not None:
        identity = f"artifact:{artifacts.input_key}:{size}:{artifacts.input_etag}"
    else:
        identity = digest_text(data)
    return StartPlan(
        spec=spec,
        dag=dag,
        input_source=input_source(meta["name"], external),
        shards=shards,
        outputs=sorted(
            {
                naming.output_configmap(meta["name"], n, shards)
                for n in (*dag.order, *([SUMMARY_KEY] * bool(spec.on_exit)))
            }
        ),
        stored_input=stored,
        decision=decision,
        reused=reused,
        input_identity=identity,
    )


async def peek_input(
    api: Api, namespace: str, spec: WorkflowSpec, artifacts: RunArtifacts | None
) -> tuple[str, tuple[str, str] | None, int | None, str | None]:
    """(the input, or an artifact input's beginning; its configMapKeyRef; an artifact's whole size; an
    artifact's content type when the spec does not set one)."""
    if artifacts is not None and spec.input.artifact is not None:  # nothing of it goes into etcd
        peek = await artifacts.peek_input()
        content_type = None
        if "content_type" not in spec.input.model_fields_set and peek.content_type:
            content_type = peek.content_type
        return peek.head.decode("utf-8", errors="replace"), None, peek.size, content_type
    data, external = await read_input(api, namespace, spec)
    return data, external, None, None


async def input_facts(
    api: Api, body: Mapping[str, Any], spec: WorkflowSpec, artifacts: RunArtifacts | None
) -> InputFacts:
    """The input as RoutingRules and nodes' `when` see it (`input`)."""
    meta = body["metadata"]
    data, _, size, content_type = await peek_input(api, meta["namespace"], spec, artifacts)
    labels = dict(meta.get("labels") or {})
    return analyse_input(data, content_type or spec.input.content_type, labels, size=size)


def plan_resume(name: str, spec: WorkflowSpec, status: WorkflowStatus, registry: Registry) -> StartPlan:
    """The started run again, from its immutable spec and its recorded route and outputs."""
    nodes = routed_nodes(spec, status.route or RouteStatus())
    dag = build_dag(nodes, registry, spec.on_exit)  # raises only if the spec changed behind our back
    ref = spec.input.config_map_key_ref
    return StartPlan(
        spec=spec,
        dag=dag,
        input_source=input_source(name, (ref.name, ref.key) if ref else None),
        shards=naming.output_shards(output_slots(dag)),
        outputs=list(status.outputs),
    )
