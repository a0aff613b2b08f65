"""`switchyard.celpool.route_input`: the decisions of `logic.routing.route`, with rules evaluated in worker
processes under a time budget while the event loop keeps running."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from switchyard.celpool import RuleEvaluatorPool, route_input
from switchyard.logic.analysis import InputFacts, analyse_input
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.routing import CompiledRule, compile_rule, route
from switchyard.models.routing import RoutingRuleSpec
from switchyard.sandbox.waiting import async_wait_for

T = TypeVar("T")
# Passes every static check (3 levels) but walks 200^3 = 8 million combinations: many seconds of CEL.
SLOW = "input.json.items.all(a, input.json.items.all(b, input.json.items.all(c, a + b + c >= 0)))"
ITEMS = analyse_input(json.dumps({"kind": "order", "items": list(range(200))}), "application/json")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rule(name: str, when: str, *path: str, priority: int = 0) -> CompiledRule:
    return compile_rule(name, RoutingRuleSpec(priority=priority, when=when, path=list(path)))


@pytest.fixture
def pool() -> Iterator[RuleEvaluatorPool]:
    workers = RuleEvaluatorPool(size=2)
    yield workers
    workers.close()
    assert workers.processes == []


async def with_ticker(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """Run `work` while a 10 ms ticker runs; (result, the longest gap between ticks)."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        result = await work()
    finally:
        stop.set()
        await ticker
    return result, max(gaps, default=0.0)


def test_same_decisions_as_route(pool: RuleEvaluatorPool) -> None:
    text = analyse_input("plain words 42")
    rules = [
        rule("null-json", 'input.json.kind == "order"', "x", priority=9),
        rule("not-bool", "input.json == null ? input.size : false", "x", priority=8),
        rule("unknown-key", 'input.labels.nope == "a"', "x", priority=5),
        rule("broken", "input.size >", "x", priority=4),
        rule("typo", "input.sizee > 1", "x", priority=3),
        rule("ok", "input.size < 100 && input.hasDigits", "numeric-processor", priority=1),
        rule("later", "true", "never-reached", priority=0),
    ]
    for facts, analysis in ((text, False), (ITEMS, True), (analyse_input("x"), True)):
        expected = route(facts, rules, None, analysis)
        assert asyncio.run(route_input(facts, rules, None, analysis, pool=pool)) == expected
    decision = asyncio.run(route_input(text, rules, None, False, pool=pool))
    assert decision.rule == "ok"
    assert len(decision.skipped) == 5
    assert decision.skipped[4].startswith("rule 'typo': CEL check error: unknown field input.sizee")


def test_no_route_is_raised_as_route_does(pool: RuleEvaluatorPool) -> None:
    rules = [rule("big", "input.size > 5000", "x")]
    with pytest.raises(InvalidSpec) as caught:
        asyncio.run(route_input(analyse_input("x"), rules, None, False, pool=pool))
    assert caught.value.reason == "NoRoute"
    assert asyncio.run(route_input(analyse_input("x"), [], {"team": "a"}, True, pool=pool)).source == "Analysis"


def test_slow_rule_is_skipped_within_budget_and_the_loop_keeps_ticking(pool: RuleEvaluatorPool) -> None:
    rules = [
        rule("slow", SLOW, "x", priority=10),
        rule("order", 'input.json.kind == "order"', "json-processor", priority=1),
    ]
    assert rules[0].error is None  # the static checks cannot know: the budget must
    asyncio.run(pool.warm())
    assert len(pool.processes) == 1

    async def timed() -> tuple[float, object]:
        started = time.monotonic()
        decision = await route_input(ITEMS, rules, None, True, budget_seconds=0.5, pool=pool)
        return time.monotonic() - started, decision

    (elapsed, decision), longest_gap = asyncio.run(with_ticker(timed))
    assert isinstance(decision, type(route(ITEMS, rules[1:], None, True)))
    assert decision.rule == "order"  # the next rule ran, on a fresh worker
    assert decision.skipped == ["rule 'slow': evaluation exceeded the 0.5 s budget"]
    # A loop blocked by the slow rule would show a gap of at least the 0.5 s budget (see the next test).
    assert longest_gap < 0.5, f"the event loop was blocked for {longest_gap:.2f} s"
    # 0.5 s budget + killing the worker + starting a fresh one (a spawned interpreter; slow on a loaded node)
    assert elapsed < 15, elapsed
    assert len(pool.processes) == 1  # the killed worker is gone, its replacement is idle


def test_the_same_rule_in_the_event_loop_blocks_it() -> None:
    """What the pool is for, and proof the ticker sees a blocked loop: `route` holds the loop while CEL runs.

    Independent of the machine's speed: the gap the ticker sees is compared with how long `route` itself held
    the loop, measured in the same run (a blocked loop shows a gap at least that long; a free one, ~10 ms).
    """
    sixty = analyse_input(json.dumps({"items": list(range(60))}), "application/json")  # 216,000 combinations
    held: list[float] = []

    async def blocking() -> object:
        await asyncio.sleep(0.05)  # let the ticker start
        started = time.monotonic()
        decision = route(sixty, [rule("slow", SLOW, "x")], None, True)
        held.append(time.monotonic() - started)
        return decision

    _, longest_gap = asyncio.run(with_ticker(blocking))
    assert held[0] > 0.02, "the rule must run long enough to stand out from the 10 ms ticks"
    assert longest_gap >= 0.9 * held[0], (longest_gap, held[0])


def test_close_stops_every_worker_and_the_pool_restarts(pool: RuleEvaluatorPool) -> None:
    facts = analyse_input("x")
    rules = [rule("t", "input.size == 1", "x")]

    async def concurrently() -> list[object]:
        return list(await asyncio.gather(*(route_input(facts, rules, None, True, pool=pool) for _ in range(5))))

    decisions = asyncio.run(concurrently())
    assert {getattr(d, "rule", None) for d in decisions} == {"t"}
    workers = pool.processes
    assert 1 <= len(workers) <= 2  # bounded by the pool size
    pool.close()
    assert pool.processes == [] and not any(process.is_alive() for process in workers)
    assert asyncio.run(route_input(facts, rules, None, True, pool=pool)).rule == "t"


def test_input_facts_reach_the_worker_intact(pool: RuleEvaluatorPool) -> None:
    facts = InputFacts(
        data="héllo", size=6, is_json=False, json=None, has_digits=False, content_type="text/x", labels={"a": "b"}
    )
    rules = [rule("all", 'input.data == "héllo" && input.labels.a == "b" && input.contentType == "text/x"', "x")]
    assert asyncio.run(route_input(facts, rules, None, False, pool=pool)).rule == "all"


def test_a_worker_that_dies_skips_its_rule_and_is_replaced(pool: RuleEvaluatorPool) -> None:
    rules = [
        rule("slow", SLOW, "x", priority=10),
        rule("order", 'input.json.kind == "order"', "json-processor", priority=1),
    ]
    asyncio.run(pool.warm())
    (victim,) = pool.processes
    idle = cpu_seconds(victim.pid)  # its start-up (imports) so far

    async def kill_during_evaluation() -> object:
        routing = asyncio.create_task(route_input(ITEMS, rules, None, True, budget_seconds=60, pool=pool))
        await async_wait_for(lambda: cpu_seconds(victim.pid) > idle + 0.2, 30, what="the worker evaluating")
        assert not routing.done()
        victim.kill()
        return await routing

    decision = asyncio.run(kill_during_evaluation())
    assert getattr(decision, "rule", None) == "order"
    assert getattr(decision, "skipped", None) == ["rule 'slow': the CEL evaluator process exited (end of file)"]
    assert victim not in pool.processes and len(pool.processes) == 1


def test_an_idle_worker_that_died_is_replaced_without_skipping(pool: RuleEvaluatorPool) -> None:
    asyncio.run(pool.warm())
    (idle,) = pool.processes
    idle.kill()
    idle.join(10)
    decision = asyncio.run(route_input(analyse_input("x"), [rule("t", "input.size == 1", "x")], None, True, pool=pool))
    assert (decision.rule, decision.skipped) == ("t", [])
    assert idle not in pool.processes and len(pool.processes) == 1


def address_space_limit(pid: int | None) -> int:
    """The soft RLIMIT_AS of a process, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return int(line.split()[3])
    raise AssertionError("no address-space line")


def test_workers_are_capped_at_the_configured_memory_and_count() -> None:
    """`--cel-worker-memory` becomes each worker's RLIMIT_AS; `--cel-workers` bounds how many run at once."""
    small = RuleEvaluatorPool(size=1, memory_mib=100)
    try:

        async def two_at_once() -> None:
            await asyncio.gather(
                *(route_input(ITEMS, [rule("r", "input.size > 0", "a")], None, False, pool=small) for _ in range(2))
            )

        asyncio.run(two_at_once())
        [worker] = small.processes  # two routings, one worker: the second waited for the first
        assert address_space_limit(worker.pid) == 100 * 1024**2
    finally:
        small.close()
    big_input = analyse_input(json.dumps([{"id": i, "name": "x" * 20} for i in range(9000)]), "application/json")
    default = RuleEvaluatorPool(size=1)  # the default cap leaves room for a rule over an input near 512 KiB
    try:
        decision = asyncio.run(
            route_input(
                big_input,
                [rule("all", 'input.json.exists(x, x.name == "nope") || true', "a")],
                None,
                False,
                pool=default,
            )
        )
        assert decision.path == ["a"] and not decision.skipped
        assert address_space_limit(default.processes[0].pid) == 128 * 1024**2
    finally:
        default.close()
