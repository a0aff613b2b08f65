"""The observe half of `forEach` (`logic.foreach`): a ready node's items from its `fromNode` dependency's full
output (one item per output artifact when it has some) or its `expression` (evaluated in the CEL worker pool),
and, after a restart, the outputs of its
instances already Succeeded. Nothing here decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.artifacts.trouble import classify
from switchyard.celpool.pool import evaluate_json
from switchyard.k8s.whenfacts import WhenFacts
from switchyard.logic.foreach import ItemsFact, artifact_items, instance_name, items_of, list_value, output_key
from switchyard.logic.routing import input_keys
from switchyard.logic.scheduler import WorkflowRun
from switchyard.logic.steps import preview
from switchyard.logic.when import variables
from switchyard.models.workflow import MAX_STATUS_ARTIFACTS

ReadManifest = Callable[[str], Awaitable[list[dict[str, object]]]]  # a manifest's key -> its artifacts


class ForEachFacts:
    """A `nodefacts` source: node -> `ItemsFact` for the ready forEach nodes wanted (reads outputs as `when`'s
    observe half does: held by the runner, else from the outputs ConfigMaps)."""

    def __init__(self, reader: WhenFacts, manifest: ReadManifest | None = None) -> None:
        self.reader = reader
        self.manifest = manifest  # the run's store: a node's artifacts beyond those its status lists

    async def __call__(self, run: WorkflowRun, nodes: set[str]) -> dict[str, object]:
        found: dict[str, object] = {}
        for node in sorted(nodes):
            try:
                found[node] = await self.fact(run, node)
            except ApiException as exc:  # an outputs ConfigMap unreadable: the node fails with why, never a crash
                found[node] = ItemsFact(None, f"forEach: the upstream outputs could not be read: HTTP {exc.status}")
        return found

    async def fact(self, run: WorkflowRun, node: str) -> ItemsFact:
        spec = run.dag.nodes[node].for_each
        assert spec is not None
        done = [
            i
            for i in range(run.recorded_instances(node))
            if (status := run.recorded.get(instance_name(node, i))) is not None and status.phase == "Succeeded"
        ]
        keys = {output_key(instance_name(node, i)): i for i in done}
        wanted = list(keys) + ([spec.from_node] if spec.from_node is not None else [])
        outputs = await self.reader.outputs(wanted)
        previous = {i: outputs[key] for key, i in keys.items() if key in outputs}
        if spec.expression is not None:
            items, problem = await self.evaluate(run, node, spec.expression)
            return ItemsFact(items, problem, previous)
        if spec.from_node is None:
            return ItemsFact(tuple(spec.items or ()), None, previous)
        source = run.nodes[spec.from_node]
        if source.artifact_manifest is not None and source.artifacts:  # artifacts win over a JSON-list result
            return await self.artifact_fact(spec.from_node, source.artifact_manifest, source.artifacts, previous)
        items, problem = items_of(outputs.get(spec.from_node), spec.from_node)
        return ItemsFact(items, problem, previous)

    async def artifact_fact(
        self, source: str, manifest: str, listed: list[dict[str, Any]], previous: dict[int, str]
    ) -> ItemsFact:
        """One item per output artifact of `source`: those its status lists, or (when the list is cut at
        MAX_STATUS_ARTIFACTS) every one its manifest names."""
        refs: Sequence[Mapping[str, Any]] = listed
        if len(listed) >= MAX_STATUS_ARTIFACTS and self.manifest is not None:
            try:
                refs = await self.manifest(manifest)
            except Exception as exc:  # the store: the node fails with why, never a crash
                failure = classify(exc)
                why = f"forEach.fromNode {source!r}: its manifest could not be read: {failure.reason}: {failure.detail}"
                return ItemsFact(None, preview(why, 300))
        items, problem = artifact_items(refs, source)
        return ItemsFact(items, problem, previous, artifacts=True)

    async def evaluate(self, run: WorkflowRun, node: str, expression: str) -> tuple[tuple[Any, ...] | None, str | None]:
        """A `forEach.expression` over `input`, `upstream` and `params` (as `when` sees them), in the CEL pool."""
        deps = run.dag.deps[node]
        outputs = await self.reader.outputs([d for d in deps if run.nodes[d].phase in ("Succeeded", "FellBack")])
        upstream = {dep: (run.nodes[dep].phase, outputs.get(dep)) for dep in deps}
        input_ = await self.reader.input_variable() if input_keys(expression) != frozenset() else {}
        value, problem = await evaluate_json(node, expression, variables(input_, upstream, self.reader.params))
        if problem is not None:
            return None, f"forEach.expression could not be evaluated: {preview(problem, 300)}"
        return list_value(value)


__all__ = ["ForEachFacts", "ReadManifest"]
