"""The node-feature seam of the engine (`logic.features`): settle, defer for facts, offered once per node."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from tests.unit.test_scheduler import COMPONENTS, DIAMOND, T0, comp, fail, launched, make_run, ok

from switchyard.logic.dag import DagNode
from switchyard.logic.features import Defer, RunView, Settle
from switchyard.logic.scheduler import BreakerBook


class Cached:
    """A feature that settles `hits` as Succeeded with an output, and asks for facts about `ask` first."""

    name = "cached"

    def __init__(self, hits: set[str], ask: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.hits = hits
        self.ask = ask
        self.offers: list[str] = []

    def applies(self, node: DagNode) -> bool:
        return node.name in self.hits | self.ask | {"b"}

    def decide(self, node: str, run: RunView, facts: Mapping[str, object], now: datetime) -> Settle | Defer | None:
        self.offers.append(node)
        if node in self.ask and node not in facts:
            return Defer()
        if node in self.hits or facts.get(node) == "hit":
            return Settle("Succeeded", "CacheHit", "from the cache", output=f"cached {node}", event="Normal")
        return None


def test_a_settled_node_runs_no_job_keeps_its_output_and_releases_its_dependents() -> None:
    feature = Cached({"a"})
    run, book = make_run(DIAMOND, features=[feature]), BreakerBook()
    plan = run.step({}, COMPONENTS, book, T0)
    assert launched(plan) == ["b", "c"]  # a never ran; b and c start at once
    assert run.nodes["a"].phase == "Succeeded" and run.nodes["a"].reason == "CacheHit"
    assert plan.outputs == {"a": "cached a"} and "a" in plan.changed
    assert ("Normal", "CacheHit", "node a: from the cache") in plan.events


def test_a_deferred_node_waits_for_its_facts_then_is_decided() -> None:
    feature = Cached(set(), ask={"a"})
    run, book = make_run(DIAMOND, features=[feature]), BreakerBook()
    plan = run.step({}, COMPONENTS, book, T0)
    assert plan.launches == [] and plan.wanted == {"cached": {"a"}}
    assert run.nodes["a"].phase == "Pending"
    assert run.step({}, COMPONENTS, book, T0).wanted == {}  # asked once, not on every pass
    plan = run.step({}, COMPONENTS, book, T0, facts={"cached": {"a": "hit"}})
    assert run.nodes["a"].phase == "Succeeded" and launched(plan) == ["b", "c"]


def test_a_node_let_through_is_not_offered_again_on_its_retry() -> None:
    feature = Cached(set())
    components = {"c": comp(retry={"limit": 2})}
    run, book = make_run(DIAMOND, features=[feature]), BreakerBook()
    run.step({}, components, book, T0)
    run.step({"a": ok(run, "a")}, components, book, T0)
    assert feature.offers == ["b"]  # only the nodes it applies to, once
    run.step({"b": fail(run, "b")}, components, book, T0)
    assert run.nodes["b"].phase == "Retrying"
    plan = run.step({}, components, book, T0 + timedelta(hours=1))
    assert launched(plan) == ["b"] and feature.offers == ["b"]
