"""`spec.reuse` (what `switchyard retry` sets): the nodes of a finished Workflow a new run takes as they ended,
so they do not run again. Read once, before the run starts (`prepare.plan_start`); the decisions are pure
(`logic.foreach.reusable_instances` for the instances of a forEach node). A reused node (or instance) whose
attempt wrote artifacts brings them: copied inside the store into the new run's own prefix with a manifest for
the new Workflow's uid (`RunArtifacts.carry`), so its dependents stage them and the old Workflow's GC cannot
take them away; when the old objects are gone the node is not reused (it runs again, and so does a forEach node
reused whole whose instance's objects are gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.trouble import StagingFailure
from switchyard.k8s.artifactrun import RunArtifacts, StoreTrouble
from switchyard.k8s.client import Api
from switchyard.k8s.errors import not_found
from switchyard.logic import naming
from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.foreach import instance_name, item_key, output_key, parse_instance, reusable_instances, slots_of
from switchyard.logic.routing import path_to_nodes
from switchyard.logic.steps import preview
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.workflow import (
    NodeSpec,
    NodeStatus,
    RouteStatus,
    WorkflowObjectSpec,
    WorkflowSpec,
    WorkflowStatus,
)

REUSED = "Reused"
DONE_OK = ("Succeeded", "FellBack")


async def reused_nodes(
    api: Api, namespace: str, spec: WorkflowSpec, dag: Dag, now: datetime, artifacts: RunArtifacts | None = None
) -> dict[str, tuple[NodeStatus, str | None]]:
    """`spec.reuse`: node -> (its status as reused, its full output), for every node of `dag` that succeeded (or
    fell back) in the named finished Workflow with the same component and whose output is still stored.

    A forEach node reused whole brings its instances' records along (as the fan-in dependents mount them); one
    that is not (it failed, say under `minSuccessRatio`) brings the instances that succeeded with the same item
    (`reusable_instances`): only the others run again. Instances are keyed `NODE[i]`; a failed instance's
    record (of a node reused whole) has no output."""
    if spec.reuse is None:
        return {}
    name = spec.reuse.workflow
    try:
        old = await api.read_object(GROUP, VERSION, namespace, "workflows", name)
    except ApiException as exc:
        if not_found(exc):
            raise InvalidSpec("ReuseNotFound", f"spec.reuse: workflow '{name}' not found") from exc
        raise
    status = WorkflowStatus.model_validate(old.get("status") or {})
    if status.phase not in ("Succeeded", "Failed"):
        raise InvalidSpec("ReuseNotFinished", f"spec.reuse: workflow '{name}' is {status.phase}, not finished")
    try:
        # a WorkflowTemplate run's spec is its snapshot
        old_spec = status.template.spec if status.template else WorkflowObjectSpec.model_validate(old.get("spec") or {})
        old_nodes = {n.name: n for n in routed_nodes(old_spec, status.route or RouteStatus())}
    except (ValidationError, InvalidSpec) as exc:
        raise InvalidSpec("ReuseInvalid", f"spec.reuse: workflow '{name}' cannot be read: {exc}") from exc
    same = {
        node for node, spec_ in dag.nodes.items() if node in old_nodes and old_nodes[node].component == spec_.component
    }
    wanted = [node for node in same if (done := status.nodes.get(node)) is not None and done.phase in DONE_OK]
    fan_outs = [node for node in same if dag.nodes[node].for_each is not None]
    outputs: dict[str, str] = {}
    if wanted or (fan_outs and any(parse_instance(n) for n in status.nodes)):
        shards = naming.output_shards(slots_of([*old_nodes.values(), *old_spec.on_exit]))  # as `plan_start`
        names = {naming.output_configmap(name, key, shards) for key in keys_to_read(wanted, fan_outs, status)}
        for cm in sorted(names):
            try:
                found = await api.call(api.core.read_namespaced_config_map, cm, namespace)
            except ApiException as exc:
                if not_found(exc):
                    continue
                raise
            outputs.update(found.data or {})
    reused: dict[str, tuple[NodeStatus, str | None]] = {}
    for node in sorted(wanted):
        if node not in outputs:
            continue  # the output is gone: run the node again
        reused[node] = (reused_status(outputs[node], now, f"reused the output of workflow {name}"), outputs[node])
    phases = {node: done.phase for node, done in status.nodes.items()}
    for node in sorted(fan_outs):
        for_each = dag.nodes[node].for_each
        assert for_each is not None
        if node in reused:  # reused whole: every instance as it ended, for the fan-in dependents
            for instance, done in status.nodes.items():
                parsed = parse_instance(instance)
                if parsed is None or parsed[0] != node:
                    continue
                kept = outputs.get(output_key(instance)) if done.phase in DONE_OK else None
                reused[instance] = (instance_status() if kept is not None else done, kept)
            continue
        sources = [for_each.from_node] if for_each.from_node is not None else list(dag.deps[node])
        indices = reusable_instances(node, for_each, phases, outputs, sources_reused=all(s in reused for s in sources))
        for i in indices:
            key = output_key(instance_name(node, i))
            reused[instance_name(node, i)] = (instance_status(), outputs[key])
    await carry_artifacts(reused, status.nodes, str(old["metadata"].get("uid") or ""), artifacts)
    return reused


CARRY_CONCURRENCY = 16


async def carry_artifacts(
    reused: dict[str, tuple[NodeStatus, str | None]],
    old_nodes: Mapping[str, NodeStatus],
    old_uid: str,
    artifacts: RunArtifacts | None,
) -> None:
    """Give each reused node whose old attempt had a manifest its own copy (`RunArtifacts.carry`), in place;
    drop the nodes whose old objects are gone (a forEach node's instance: the node and all its instances).
    StoreTrouble when the store cannot be used now (the start is tried again)."""
    limiter = asyncio.Semaphore(CARRY_CONCURRENCY)
    gone: list[str] = []

    async def one(node: str, old_key: str) -> None:
        status, output = reused[node]
        async with limiter:
            try:
                refs, key, total = await artifacts.carry(node, old_key, old_uid)  # type: ignore[union-attr]
            except StagingFailure as failure:
                if failure.reason == mf.STORE_UNAVAILABLE:
                    raise StoreTrouble(f"{failure.reason}: {failure.detail}") from failure
                gone.append(node)
                return
        listed = refs if parse_instance(node) is None else None  # an instance is kept as small as compact status
        update = {"artifacts": listed, "artifact_manifest": key, "artifact_bytes": total}
        reused[node] = (NodeStatus.model_validate({**status.model_dump(), **update}), output)

    wanted: list[tuple[str, str]] = []
    for node, (status, _) in reused.items():
        old = old_nodes.get(node)
        key = old.artifact_manifest if old is not None and old.phase in DONE_OK else None
        if key is None or status.phase not in DONE_OK or artifacts is None or old is None or old.artifacts == []:
            if status.artifact_manifest is not None:  # an old record's: never the new run's
                reused[node] = (
                    status.model_copy(update={"artifacts": None, "artifact_manifest": None}),
                    reused[node][1],
                )
            continue
        wanted.append((node, key))
    await asyncio.gather(*(one(node, key) for node, key in wanted))
    for node in gone:
        whole = _parent(node) if _parent(node) in reused else None
        for name in [n for n in reused if n == node or (whole is not None and whole in (n, _parent(n)))]:
            reused.pop(name)


def _parent(name: str) -> str | None:
    parsed = parse_instance(name)
    return parsed[0] if parsed is not None else None


def routed_nodes(spec: WorkflowSpec, route_: RouteStatus) -> list[NodeSpec]:
    """The DAG a started Workflow runs, from its immutable spec and its recorded route."""
    if route_.source == "Explicit":
        return list(spec.nodes)
    if route_.nodes:
        return list(route_.nodes)
    return path_to_nodes(route_.path)


def keys_to_read(wanted: list[str], fan_outs: list[str], status: WorkflowStatus) -> set[str]:
    """The old run's outputs keys `reused_nodes` may take: the wanted nodes', and each recorded instance's
    output and item of the forEach nodes."""
    keys = set(wanted)
    nodes = set(fan_outs)
    for instance in status.nodes:
        if (parsed := parse_instance(instance)) is not None and parsed[0] in nodes:
            keys.update((output_key(instance), item_key(*parsed)))
    return keys


def reused_status(output: str, now: datetime, message: str) -> NodeStatus:
    return NodeStatus(
        phase="Succeeded",
        attempts=0,
        started_at=now,
        finished_at=now,
        reason=REUSED,
        message=message,
        output=preview(output),
    )


def instance_status() -> NodeStatus:
    """A reused forEach instance: as small as a compact status keeps an instance (there may be 10,000)."""
    return NodeStatus(phase="Succeeded", attempts=0, reason=REUSED)


__all__ = ["REUSED", "reused_nodes", "routed_nodes"]
