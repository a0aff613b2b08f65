"""`switchyard route FILE`: how each Workflow of a file (or a raw data file) would be routed: every rule's result,
then the path. A Workflow that lists its nodes is not routed, and the command says only that.

Registered on the `switchyard` app by `switchyard.cli.main`; the explaining itself is `switchyard.cli.explain`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from switchyard.cli import explain as explaining
from switchyard.cli.main import _cluster_call, _settings, app, err, fail, out, show
from switchyard.cli.validate import load, validate, yaml_files
from switchyard.logic.analysis import analyse_input
from switchyard.logic.health import ComponentHealth

OUTCOME_SYMBOLS = {"matched": "✔", "false": "✖", "skipped": "⚠", "not selected": "○", "invalid": "⚠"}


def explicit_nodes(workflow: Mapping[str, Any]) -> list[str]:
    """The node names of a Workflow that lists its nodes (empty for a routed one)."""
    nodes = (workflow.get("spec") or {}).get("nodes") or []
    return [str(node.get("name", "?")) for node in nodes if isinstance(node, Mapping)]


def _file_documents(file: pathlib.Path) -> tuple[str, list[dict[str, Any]]]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise fail(f"{file}: cannot read: {error.strerror or error}") from error
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        docs = []  # not YAML: a raw data file
    return text, docs


def _rules(ctx: typer.Context, rules: pathlib.Path | None, in_file: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if rules is None:
        return in_file or _cluster_call(lambda: _settings(ctx).cluster().routing_rules())
    report = validate([])  # collects load problems only
    found = [dict(d.body) for path in yaml_files([rules]) for d in load(path, report) if d.kind == "RoutingRule"]
    for problem in report.problems:
        err.print(Text(f"warning: {problem}", style="yellow"))
    return [*in_file, *found]


def _explain(
    routing_input: explaining.RoutingInput,
    rule_objects: list[dict[str, Any]],
    health: Mapping[str, ComponentHealth] | None = None,
) -> str | None:
    """Print the rules' results and the route; the error when there is no route. `health`: the namespace's
    Components (None: every Component the rules name reads as healthy, without statistics)."""
    compiled, invalid = explaining.compile_rules(rule_objects)
    explanation = explaining.explain(routing_input, compiled, health)
    facts = analyse_input(routing_input.data, routing_input.content_type, routing_input.labels)
    out.print(
        f"Input: {facts.size} bytes, {facts.content_type}, isJson={str(facts.is_json).lower()}, "
        f"hasDigits={str(facts.has_digits).lower()}"
    )
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), title=None)
    for column in ("RULE", "PRIORITY", "RESULT", "WHY"):
        table.add_column(column, overflow="fold")
    for result in [*explanation.results, *invalid]:
        outcome = Text(f"{OUTCOME_SYMBOLS[result.outcome]} {result.outcome}")
        if result.chosen:
            outcome.append(" (chosen)", style="bold green")
        elif result.outcome == "matched":
            outcome.append(" (a rule before it won)")
        table.add_row(result.name, str(result.priority), outcome, result.detail)
    if explanation.results or invalid:
        show(table)
    else:
        out.print("No RoutingRules.")
    decision = explanation.decision
    if decision is None:
        return f"no route: {explanation.error}"
    via = f"rule {decision.rule}" if decision.source == "Rule" else "analysis"
    out.print(Text("Route: ", style="bold") + Text(f"{via}: {' -> '.join(decision.path)}"))
    out.print(Text("Reason: ", style="bold") + Text(decision.reason))
    return None


@app.command("route")
def route_command(
    ctx: typer.Context,
    file: Annotated[pathlib.Path, typer.Argument(help="Workflow manifests (every one is routed), or a data file")],
    rules: Annotated[
        pathlib.Path | None,
        typer.Option("--rules", help="RoutingRule YAML (file or directory); default: the namespace's rules"),
    ] = None,
    content_type: Annotated[str | None, typer.Option("--content-type", help="for a data file")] = None,
) -> None:
    """Explain routing: for each Workflow in FILE (or FILE's data), each rule's result (matched, false, skipped
    with the error), then the chosen path."""
    text, docs = _file_documents(file)
    rules_in_file = [d for d in docs if d.get("kind") == "RoutingRule"]
    workflows = [d for d in docs if d.get("kind") == "Workflow"]
    several = len(workflows) > 1
    problems = 0
    loaded: list[dict[str, Any]] | None = None
    health: dict[str, ComponentHealth] | None = None
    targets: list[tuple[str, Mapping[str, Any] | None]] = [
        (f"Workflow/{(w.get('metadata') or {}).get('name', '?')}", w) for w in workflows
    ] or [(str(file), None)]
    for index, (label, workflow) in enumerate(targets):
        if several and index:
            out.print()
        nodes = explicit_nodes(workflow) if workflow is not None else []
        if nodes:
            why = f"lists its nodes ({', '.join(nodes)}): it runs them as given and is not routed."
            out.print(f"{label}: {why}" if several else f"{label} {why}")
            continue
        if several:
            out.print(Text(f"{label}:", style="bold"))
        if workflow is None:
            routing_input = explaining.RoutingInput(data=text, content_type=content_type or "text/plain")
        else:
            try:
                routing_input = explaining.input_from_workflow(workflow)
            except ValueError as error:  # pydantic's ValidationError is a ValueError too
                err.print(Text(f"error: {file}: {label}: {error}", style="bold red"))
                problems += 1
                continue
        if loaded is None:
            loaded = _rules(ctx, rules, rules_in_file)
            if rules is None and not rules_in_file:  # the namespace's rules: its Components' health too
                health = _cluster_call(lambda: _settings(ctx).cluster().component_health())
        no_route = _explain(routing_input, loaded, health)
        if no_route is not None:
            err.print(Text(f"error: {label}: {no_route}" if several else f"error: {no_route}", style="bold red"))
            problems += 1
    if problems:
        raise typer.Exit(1)
