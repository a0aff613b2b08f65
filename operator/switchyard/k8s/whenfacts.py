"""The observe half of `when` (`logic.when`): evaluate a ready node's condition in the CEL worker pool.

Its variables: `input` (the Workflow input's facts, as RoutingRules see them, read once per run and only when
an expression reads it), `upstream` (each dependency's phase and full output: held by the runner, else from
the outputs ConfigMaps) and `params`. Nothing here decides: the outcome goes to the decide half as a fact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.celpool.pool import evaluate_when
from switchyard.k8s.client import Api
from switchyard.k8s.configmaps import HeldOutputs
from switchyard.k8s.errors import not_found
from switchyard.logic import naming
from switchyard.logic.analysis import InputFacts
from switchyard.logic.routing import cel_input, input_keys
from switchyard.logic.scheduler import WorkflowRun
from switchyard.logic.when import WhenOutcome, variables

ReadInput = Callable[[], Awaitable[InputFacts]]


class WhenFacts:
    """A `nodefacts` source: node -> `WhenOutcome` for the ready nodes whose `when` is wanted."""

    def __init__(
        self,
        api: Api,
        namespace: str,
        workflow: str,
        held: HeldOutputs,
        read_input: ReadInput,
        params: Mapping[str, Any],
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.workflow = workflow
        self.held = held
        self.read_input = read_input
        self.params = dict(params)
        self.input: dict[str, Any] | None = None  # `input`, once read

    async def __call__(self, run: WorkflowRun, nodes: set[str]) -> dict[str, object]:
        found: dict[str, object] = {}
        for node in sorted(nodes):
            when = run.dag.nodes[node].when or ""
            try:
                found[node] = await self.outcome(run, node, when)
            except ApiException as exc:  # an outputs ConfigMap unreadable: false with the reason, never a crash
                found[node] = WhenOutcome(False, f"the upstream outputs could not be read: HTTP {exc.status}")
        return found

    async def outcome(self, run: WorkflowRun, node: str, when: str) -> WhenOutcome:
        deps = run.dag.deps[node]
        outputs = await self.outputs([d for d in deps if run.nodes[d].phase in ("Succeeded", "FellBack")])
        upstream = {dep: (run.nodes[dep].phase, outputs.get(dep)) for dep in deps}
        input_ = await self.input_variable() if input_keys(when) != frozenset() else {}
        value, problem = await evaluate_when(node, when, variables(input_, upstream, self.params))
        return WhenOutcome(value, problem)

    async def input_variable(self) -> dict[str, Any]:
        if self.input is None:
            self.input = cel_input(await self.read_input())
        return self.input

    async def outputs(self, nodes: list[str]) -> dict[str, str]:
        """The full outputs of these nodes: those the runner still holds, the rest from their ConfigMaps."""
        found = {node: self.held.outputs[node] for node in nodes if node in self.held.outputs}
        wanted = sorted({naming.output_configmap(self.workflow, n, self.held.shards) for n in nodes if n not in found})
        for name in wanted:
            try:
                cm = await self.api.call(self.api.core.read_namespaced_config_map, name, self.namespace)
            except ApiException as exc:
                if not_found(exc):
                    continue
                raise
            data = cm.data or {}
            found.update({node: data[node] for node in nodes if node not in found and node in data})
        return found


__all__ = ["WhenFacts"]
