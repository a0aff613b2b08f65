"""`switchyard get`: a Workflow as a tree like `argo get` (summary, then one line per node), drawn with rich."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from switchyard.cli.view import SYMBOLS, NodeView, WorkflowView, duration

STYLES = {
    "Pending": "dim",
    "Running": "bold blue",
    "Retrying": "yellow",
    "Succeeded": "green",
    "Failed": "bold red",
    "Skipped": "dim",
    "FellBack": "yellow",
    "Invalid": "bold red",
}
MESSAGE_WIDTH = 60


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _one_line(text: str, width: int = MESSAGE_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def node_message(node: NodeView) -> str:
    """What the MESSAGE column says: the reason and message, the fallback, else the output preview."""
    status = node.status
    parts: list[str] = []
    if status.reason:
        parts.append(f"{status.reason}: {status.message}" if status.message else status.reason)
    elif status.message:
        parts.append(status.message)
    if status.fallback:
        parts.append(f"fallback {status.fallback}")
    if not parts and status.output:
        parts.append(status.output)
    return _one_line("; ".join(parts))


def summary(view: WorkflowView, now: datetime) -> Table:
    status = view.status
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [("Name:", view.name), ("Namespace:", view.namespace)]
    phase = Text(f"{SYMBOLS.get(status.phase, '?')} {status.phase}", style=STYLES.get(status.phase, ""))
    rows_after: list[tuple[str, str]] = []
    if status.progress:
        rows_after.append(("Progress:", status.progress))
    if status.route is not None:
        route = status.route.summary or status.route.source.lower()
        rows_after.append(("Route:", f"{route} ({status.route.reason})" if status.route.reason else route))
    if status.started_at:
        rows_after.append(("Started:", _when(status.started_at)))
    if status.finished_at:
        rows_after.append(("Finished:", _when(status.finished_at)))
    if status.started_at:
        rows_after.append(("Duration:", duration(status.started_at, status.finished_at, now)))
    if status.message:
        rows_after.append(("Message:", status.message))
    for label, value in rows:
        table.add_row(label, value)
    table.add_row("Phase:", phase)
    for label, value in rows_after:
        table.add_row(label, value)
    return table


def nodes_table(view: WorkflowView, now: datetime) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    # Only MESSAGE gives way on a narrow terminal: names and Job names stay whole.
    step_width = max([len(view.name) + 2, *(len(node.name) + 4 for node in view.nodes)])
    job_width = max([3, *(len(node.status.job or "") for node in view.nodes)])
    table.add_column("STEP", no_wrap=True, min_width=step_width)
    table.add_column("PHASE", no_wrap=True, min_width=9)
    table.add_column("ATTEMPTS", no_wrap=True, min_width=8)
    table.add_column("DURATION", no_wrap=True, min_width=8)
    table.add_column("JOB", no_wrap=True, min_width=job_width)
    table.add_column("BREAKER", no_wrap=True, min_width=8)
    table.add_column("MESSAGE", no_wrap=True, overflow="ellipsis")
    symbol = SYMBOLS.get(view.phase, "?")
    table.add_row(Text(f"{symbol} {view.name}", style=STYLES.get(view.phase, "")), "", "", "", "", "", "")
    last = len(view.nodes) - 1
    for index, node in enumerate(view.nodes):
        status = node.status
        branch = "└─" if index == last else "├─"
        step = Text(branch)
        step.append(f"{SYMBOLS.get(status.phase, '?')} {node.name}", style=STYLES.get(status.phase, ""))
        breaker = view.breakers.get(node.component, "")
        table.add_row(
            step,
            status.phase,
            str(status.attempts) if status.attempts else "",
            duration(status.started_at, status.finished_at, now) if status.started_at else "",
            status.job or "",
            Text(breaker, style="bold red" if breaker == "Open" else ("yellow" if breaker == "HalfOpen" else "")),
            node_message(node),
        )
    return table


def render(view: WorkflowView, now: datetime | None = None) -> RenderableType:
    """The summary, a blank line and the node tree."""
    moment = now or datetime.now(UTC)
    return Group(summary(view, moment), Text(""), nodes_table(view, moment))
