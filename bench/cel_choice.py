"""Compare the two CEL libraries for RoutingRules: correctness of the documented examples, then speed.

Run: `python bench/cel_choice.py` (needs both `common-expression-language` and `cel-python` installed).
Prints one table; the figures and the choice are recorded in docs/benchmarks.md ("CEL library").
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import cel
import celpy
import celpy.adapter

from switchyard.logic.analysis import InputFacts, analyse_input
from switchyard.logic.routing import compile_rule, route
from switchyard.models.routing import RoutingRuleSpec

EXPRESSIONS = [
    "input.size > 5000",
    'input.isJson && input.json.kind == "order"',
    'input.labels["team"] == "a"',
    'input.contentType.startsWith("application/json")',
]


def make_input(size: int) -> dict[str, Any]:
    """An order as JSON, padded to `size` bytes, as the `input` variable routing passes to CEL."""
    document: dict[str, Any] = {"kind": "order", "id": 42, "lines": []}
    while len(json.dumps(document)) < size:
        document["lines"].append({"sku": f"sku-{len(document['lines'])}", "qty": 3, "price": 9.5})
    data = json.dumps(document)
    return {
        "data": data,
        "size": len(data.encode()),
        "isJson": True,
        "json": document,
        "hasDigits": True,
        "contentType": "application/json; charset=utf-8",
        "labels": {"team": "a"},
    }


# Edge cases that must be false or an error, never a crash: (expression, input patch, expected or "error").
EDGE_CASES: list[tuple[str, dict[str, Any], Any]] = [
    ('input.isJson && input.json.kind == "order"', {"isJson": False, "json": None}, False),
    ("input.json.kind == 'order'", {"json": None}, "error"),
    ("input.json.kind == 'order'", {"json": {"other": 1}}, "error"),
    ("input.json.kind == 'order'", {"json": [1, 2]}, "error"),
    ("input.data.size()", {"data": "é"}, 1),  # CEL counts code points
]


class Library:
    name: str

    def compile(self, expression: str) -> Any:
        raise NotImplementedError

    def activation(self, variables: dict[str, Any]) -> Any:
        raise NotImplementedError

    def run(self, program: Any, activation: Any) -> Any:
        raise NotImplementedError


class RustCel(Library):
    name = "common-expression-language (cel)"

    def compile(self, expression: str) -> Any:
        return cel.compile(expression)

    def activation(self, variables: dict[str, Any]) -> Any:
        return variables  # converted by the library on every execute

    def run(self, program: Any, activation: Any) -> Any:
        return program.execute(activation)


class RustCelContext(RustCel):
    name = "cel, one Context per input"

    def activation(self, variables: dict[str, Any]) -> Any:
        return cel.Context(variables=variables)  # converted once, shared by all expressions


class CelPython(Library):
    name = "cel-python (celpy)"

    def __init__(self) -> None:
        self.env = celpy.Environment()

    def compile(self, expression: str) -> Any:
        return self.env.program(self.env.compile(expression))

    def activation(self, variables: dict[str, Any]) -> Any:
        return {name: celpy.adapter.json_to_cel(value) for name, value in variables.items()}

    def run(self, program: Any, activation: Any) -> Any:
        result = program.evaluate(activation)
        if isinstance(result, Exception):
            raise result
        return result


def timed(action: Callable[[], Any], repeat: int) -> float:
    """Median microseconds per call over a few rounds of `repeat` calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            action()
        rounds.append((time.perf_counter() - start) / repeat * 1e6)
    return statistics.median(rounds)


def correctness(library: Library) -> list[str]:
    problems = []
    variables = {"input": make_input(6000)}  # every example is true on it
    activation = library.activation(variables)
    for expression in EXPRESSIONS:
        result = library.run(library.compile(expression), activation)
        if result != True:  # noqa: E712 - celpy returns BoolType, an int subclass
            problems.append(f"{expression!r} gave {result!r}, expected true")
    for expression, patch, expected in EDGE_CASES:
        patched = library.activation({"input": {**variables["input"], **patch}})
        try:
            result = library.run(library.compile(expression), patched)
        except Exception as error:
            result = "error"
            detail = f"{type(error).__name__}"
        else:
            detail = repr(result)
        if result != expected:
            problems.append(f"{expression!r} with {patch} gave {detail}, expected {expected!r}")
    return problems


def measure(library: Library) -> dict[str, float]:
    figures = {"compile (4 expr)": timed(lambda: [library.compile(e) for e in EXPRESSIONS], 200)}
    programs = [library.compile(e) for e in EXPRESSIONS]
    for label, size in (("100 B", 100), ("100 KiB", 100 * 1024)):
        variables = {"input": make_input(size)}
        repeat = 500 if size < 1000 else 3

        def route_once(variables: dict[str, Any] = variables) -> None:
            activation = library.activation(variables)
            for program in programs:
                library.run(program, activation)

        figures[f"route {label} (4 expr)"] = timed(route_once, repeat)
    return figures


def measure_route() -> dict[str, float]:
    """The real thing: `switchyard.logic.routing.route` over the four rules, none of which matches."""
    specs = [RoutingRuleSpec(when=f"!({e})", path=["x"]) for e in EXPRESSIONS]
    figures = {"compile (4 expr)": timed(lambda: [compile_rule(f"r{i}", s) for i, s in enumerate(specs)], 200)}
    rules = [compile_rule(f"r{i}", spec) for i, spec in enumerate(specs)]
    for label, size in (("100 B", 100), ("100 KiB", 100 * 1024)):
        variables = make_input(size)
        facts = analyse_input(variables["data"], variables["contentType"], variables["labels"])
        repeat = 500 if size < 1000 else 3

        def route_once(facts: InputFacts = facts) -> None:
            route(facts, rules, None, True)

        figures[f"route {label} (4 expr)"] = timed(route_once, repeat)
    return figures


def main() -> None:
    print(f"Python {sys.version.split()[0]} on {platform.machine()}; times are medians in microseconds")
    libraries: list[Library] = [RustCel(), RustCelContext(), CelPython()]
    rows: list[tuple[str, dict[str, float], list[str] | None]] = []
    for library in libraries:
        figures = measure(library)
        rows.append((library.name, figures, correctness(library)))
    rows.append(("switchyard `route()` (cel, Context, only keys read)", measure_route(), None))
    columns = list(rows[0][1])
    header = f"| library | {' | '.join(columns)} | examples |"
    print(header)
    print("|" + "---|" * (len(columns) + 2))
    for name, figures, outcome in rows:
        cells = " | ".join(f"{figures[c]:,.1f}" for c in columns)
        verdict = "(unit tests)" if outcome is None else f"{len(outcome)} wrong" if outcome else "all correct"
        print(f"| {name} | {cells} | {verdict} |")
    for name, _, outcome in rows:
        for problem in outcome or []:
            print(f"{name}: {problem}")


if __name__ == "__main__":
    main()
