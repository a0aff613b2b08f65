"""The observe half of node features: gather the facts a feature's decide half asked for (`Plan.wanted`).

Each feature that can `Defer` (`logic.features`) registers a source here under its name: an async callable
that, given the run and the nodes wanted, returns node -> fact. The runner gathers them at the start of
its next pass and hands them to `WorkflowRun.step(facts=...)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from switchyard.logic.scheduler import WorkflowRun

Source = Callable[[WorkflowRun, set[str]], Awaitable[dict[str, object]]]


class NodeFacts:
    """The facts the features of one run are waiting for, and where to get them."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self.wanted: dict[str, set[str]] = {}

    def register(self, feature: str, source: Source) -> None:
        self.sources[feature] = source

    def want(self, wanted: Mapping[str, set[str]]) -> None:
        for feature, nodes in wanted.items():
            self.wanted.setdefault(feature, set()).update(nodes)

    async def gather(self, run: WorkflowRun) -> dict[str, dict[str, object]]:
        """feature -> node -> fact, for everything wanted since the last gathering (then nothing is wanted)."""
        wanted, self.wanted = self.wanted, {}
        found: dict[str, dict[str, object]] = {}
        for feature, nodes in sorted(wanted.items()):
            source = self.sources.get(feature)
            if source is None:  # a feature with no observe half must never defer: say so to its decide half
                found[feature] = {node: None for node in nodes}
                continue
            found[feature] = await source(run, nodes)
        return found


__all__ = ["NodeFacts", "Source"]
