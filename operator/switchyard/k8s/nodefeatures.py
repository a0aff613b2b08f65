"""The node features of a run: their decide halves (`logic.features`) and, for those that defer, the sources
of their facts (`nodefacts`). Adding a feature means one entry here (see `docs/architecture.md`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from switchyard.k8s.client import Api
from switchyard.k8s.configmaps import HeldOutputs
from switchyard.k8s.foreachfacts import ForEachFacts, ReadManifest
from switchyard.k8s.nodefacts import NodeFacts
from switchyard.k8s.whenfacts import ReadInput, WhenFacts
from switchyard.logic import foreach, when
from switchyard.logic.dag import Dag
from switchyard.logic.features import NodeFeature
from switchyard.models.workflow import WorkflowSpec


@dataclass(frozen=True)
class RunContext:
    """What the observe halves of a run's features may use."""

    api: Api
    namespace: str
    workflow: str
    held: HeldOutputs  # outputs not yet in their ConfigMaps
    read_input: ReadInput  # the input's facts (read on demand)
    params: Mapping[str, str] = field(default_factory=dict)  # a template run's parameter values
    manifest: ReadManifest | None = None  # a node's artifacts from its manifest (None: no artifact store)


def features(spec: WorkflowSpec, dag: Dag, facts: NodeFacts, ctx: RunContext) -> list[NodeFeature]:
    """The features offered each ready node of this run, in order; their fact sources registered on `facts`."""
    found: list[NodeFeature] = []
    if any(node.when is not None for node in dag.nodes.values()):
        found.append(when.When())
        source = WhenFacts(ctx.api, ctx.namespace, ctx.workflow, ctx.held, ctx.read_input, ctx.params)
        facts.register(when.NAME, source)
    if any(node.for_each is not None for node in dag.nodes.values()):  # after `when`: a skipped node never expands
        found.append(foreach.ForEachFeature())
        reader = WhenFacts(ctx.api, ctx.namespace, ctx.workflow, ctx.held, ctx.read_input, ctx.params)
        facts.register(foreach.NAME, ForEachFacts(reader, ctx.manifest))
    return found


__all__ = ["RunContext", "features"]
