"""`switchyard list`: the namespace's Workflows, newest first, as a table (`-o wide` adds columns), JSON, YAML or
names, filtered by label selector (`-l`, on the server) and phase (`--phase`).

Registered on the `switchyard` app by `switchyard.cli.main`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, get_args

import typer
import yaml
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from switchyard.cli import tree, view
from switchyard.cli.main import _cluster_call, _settings, app, fail, out, show
from switchyard.models.crd import GROUP
from switchyard.models.workflow import WorkflowPhase

PHASES: tuple[str, ...] = get_args(WorkflowPhase)
UNBOUNDED = 1_000_000  # columns: wider than any table


class ListFormat(StrEnum):
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


def phases_wanted(values: Sequence[str]) -> set[str]:
    """`--phase failed,Running --phase invalid` -> {"Failed", "Running", "Invalid"}; a ValueError names the phases."""
    by_lower = {phase.lower(): phase for phase in PHASES}
    wanted: set[str] = set()
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            if item.lower() not in by_lower:
                raise ValueError(f"unknown phase {item!r} (phases: {', '.join(PHASES)})")
            wanted.add(by_lower[item.lower()])
    return wanted


def node_counts(item: view.WorkflowView) -> str:
    """`4✔ 1✖ 1○`: how many nodes are in each phase, in the order of the symbols."""
    counts: Counter[str] = Counter(node.status.phase for node in item.nodes)
    return " ".join(f"{counts[phase]}{symbol}" for phase, symbol in view.SYMBOLS.items() if counts[phase])


def wide_list(views: list[view.WorkflowView], objects: list[dict[str, Any]], now: datetime) -> Table:
    """`-o wide`: the list's columns plus the finish time, node counts by phase and the labels."""
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    columns = ("NAME", "PHASE", "PROGRESS", "ROUTE", "STARTED", "FINISHED", "DURATION", "NODES", "LABELS", "MESSAGE")
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for item, obj in zip(views, objects, strict=True):
        status = item.status
        phase = Text(f"{view.SYMBOLS.get(status.phase, '?')} {status.phase}", style=tree.STYLES.get(status.phase, ""))
        why = tree.phase_reason(item)
        if why:
            phase.append(f" ({why})")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        table.add_row(
            item.name,
            phase,
            status.progress or "",
            status.route.summary if status.route else "",
            tree._when(status.started_at),
            tree._when(status.finished_at),
            view.duration(status.started_at, status.finished_at, now),
            node_counts(item),
            ",".join(f"{key}={value}" for key, value in sorted(labels.items())),
            tree._one_line(status.message or ""),
        )
    return table


def show_wide(views: list[view.WorkflowView], objects: list[dict[str, Any]], now: datetime) -> None:
    """Print the wide table at its natural width, as `kubectl get -o wide` does: a line longer than the terminal
    wraps there, but no name, label or message is cut to fit."""
    table = wide_list(views, objects, now)
    table.width = Measurement.get(out, out.options.update_width(UNBOUNDED), table).maximum
    show(table, crop=False)


@app.command("list")
def list_command(
    ctx: typer.Context,
    output: Annotated[
        ListFormat | None, typer.Option("--output", "-o", metavar="FORMAT", help="wide, json, yaml or name")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", metavar="SELECTOR", help="label selector, as kubectl's (team=a,tier!=x)"),
    ] = None,
    phase: Annotated[
        list[str] | None,
        typer.Option(
            "--phase", metavar="PHASE", help=f"only these phases (repeatable or comma-separated: {', '.join(PHASES)})"
        ),
    ] = None,
) -> None:
    """List the namespace's Workflows, newest first: phase, progress, route, start, duration, message."""
    try:
        wanted = phases_wanted(phase or [])
    except ValueError as error:
        raise fail(str(error)) from error
    cluster = _cluster_call(_settings(ctx).cluster)
    objects = _cluster_call(lambda: cluster.workflows(selector))
    objects.sort(key=lambda obj: obj["metadata"].get("creationTimestamp", ""), reverse=True)
    views = [view.build(obj) for obj in objects]
    if wanted:
        kept = [(item, obj) for item, obj in zip(views, objects, strict=True) if item.phase in wanted]
        views, objects = [item for item, _ in kept], [obj for _, obj in kept]
    if output is ListFormat.json or output is ListFormat.yaml:
        listing = {"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}}
        if output is ListFormat.json:
            print(json.dumps(listing, indent=2))
        else:
            print(yaml.safe_dump(listing, sort_keys=False), end="")
        return
    if output is ListFormat.name:
        for item in views:
            print(f"workflow.{GROUP}/{item.name}")
        return
    if not objects:
        filters = [f"selector {selector}"] if selector else []
        filters += [f"phase {', '.join(sorted(wanted))}"] if wanted else []
        suffix = f" matching {' and '.join(filters)}" if filters else ""
        out.print(f"No Workflows in namespace {cluster.namespace}{suffix}.")
        return
    now = datetime.now(UTC)
    if output is ListFormat.wide:
        show_wide(views, objects, now)
    else:
        show(tree.workflow_list(views, now))
