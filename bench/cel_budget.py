"""What the CEL budget costs and buys: `route` (in the event loop) versus `route_input` (worker processes).

Run: `PYTHONPATH=operator python bench/cel_budget.py`. Prints median route latency for 10 rules (the last one
matches) over a 100 B and a ~100 KiB JSON input, the first call (spawning a worker), and a slow rule over a
0.5 s budget: time to the decision and the longest stall of a 10 ms asyncio ticker meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from switchyard.celpool import RuleEvaluatorPool, route_input
from switchyard.logic.analysis import InputFacts, analyse_input
from switchyard.logic.routing import CompiledRule, compile_rule, route
from switchyard.models.routing import RoutingRuleSpec

ROUNDS = 50
SLOW = "input.json.items.all(a, input.json.items.all(b, input.json.items.all(c, a + b + c >= 0)))"


def rules() -> list[CompiledRule]:
    misses = [compile_rule(f"r{i}", RoutingRuleSpec(when=f"input.size > {10**9 + i}", path=["x"])) for i in range(9)]
    hit = RoutingRuleSpec(when='input.isJson && input.json.kind == "order"', path=["y"], priority=-1)
    return [*misses, compile_rule("order", hit)]


def order(size: int) -> InputFacts:
    document: dict[str, object] = {"kind": "order", "lines": []}
    lines: list[object] = []
    document["lines"] = lines
    while len(json.dumps(document)) < size:
        lines.append({"sku": f"sku-{len(lines)}", "qty": 3})
    return analyse_input(json.dumps(document), "application/json")


async def main() -> None:
    pool = RuleEvaluatorPool()
    ten = rules()
    try:
        started = time.perf_counter()
        await route_input(order(100), ten, None, True, pool=pool)
        print(f"first route_input (spawns a worker): {(time.perf_counter() - started) * 1000:.0f} ms")
        for label, facts in (("100 B", order(100)), ("100 KiB", order(100 * 1024))):
            inline, pooled = [], []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                route(facts, ten, None, True)
                inline.append(time.perf_counter() - started)
                started = time.perf_counter()
                await route_input(facts, ten, None, True, pool=pool)
                pooled.append(time.perf_counter() - started)
            print(
                f"10 rules, {label} input ({facts.size} B): route {statistics.median(inline) * 1000:.2f} ms, "
                f"route_input {statistics.median(pooled) * 1000:.2f} ms (medians of {ROUNDS})"
            )
        items = analyse_input(json.dumps({"items": list(range(200))}), "application/json")
        slow = [compile_rule("slow", RoutingRuleSpec(when=SLOW, path=["x"]))]
        gaps: list[float] = []
        done = asyncio.Event()

        async def tick() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        decision = await route_input(items, slow, None, True, budget_seconds=0.5, pool=pool)
        elapsed = time.perf_counter() - started
        done.set()
        await ticker
        print(f"slow rule, 0.5 s budget: decided in {elapsed:.2f} s, {decision.skipped}")
        print(f"  longest event-loop stall meanwhile: {max(gaps) * 1000:.0f} ms")
    finally:
        pool.close()


if __name__ == "__main__":
    asyncio.run(main())
