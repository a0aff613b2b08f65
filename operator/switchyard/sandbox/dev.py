"""`switchyard dev`: the no-cluster sandbox. The emulated API, the real operator and a local job runner.

Starts the sandbox (``devsandbox.Sandbox``: ``EmulatedCluster`` with the CRDs generated from the models, a
kubeconfig, the operator as ``python -m switchyard``, ``LocalJobRunner``, the S3 server), creates the built-in
Components, applies the examples and shows the Workflows until they finish. Exit 0 when every Workflow
labelled ``switchyard.dev/expect: Succeeded`` succeeded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import yaml

from switchyard.models.component import ComponentStatus
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.labels import ANNOTATION_NEEDS, LABEL_BUILTIN
from switchyard.sandbox import devlock, isolation
from switchyard.sandbox.auth import ADMIN_TOKEN
from switchyard.sandbox.devsandbox import (
    BIG_INPUT_KEY,
    NAMESPACE,
    PLURALS,
    REPO_EXAMPLES,
    STORE_SECRET,
    Options,
    Sandbox,
    WorkflowRow,
)
from switchyard.sandbox.localjobs import LocalJobRunner

__all__ = ["REPO_EXAMPLES", "Options", "run"]

try:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
except ImportError:  # rich is optional: plain text then
    Console = None  # type: ignore[assignment,misc]

BANNER = "SANDBOX: an in-memory Kubernetes API emulator and a local job runner, not a cluster"
IMAGE = "switchyard:sandbox"
BUILTIN_PROCESSORS = ("json-processor", "chunking-processor", "numeric-processor", "data-validator")
# what a Workflow refers to exists before it
KIND_ORDER = ("Component", "RoutingRule", "WorkflowTemplate", "Trigger", "Workflow")
PREVIEW_CHARS = 100
PIPE_WIDTH = 160  # rich's width when stdout is not a terminal (80 would fold every table)
IDENTITY_KEYS = ("processor", "node", "workflow", "attempt")
MAX_LISTED = 100  # status lists at most this many artifacts of a node
NEEDS_STORE = (ANNOTATION_NEEDS, "artifact-store")  # an example applied only when there is a store


def builtin_component(name: str) -> dict[str, Any]:
    """The chart's defaultComponents Component for one processor, as the sandbox creates it."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Component",
        "metadata": {"name": name, "labels": {LABEL_BUILTIN: "true"}},
        "spec": {
            "image": IMAGE,
            "command": ["python", "-m", "switchyard.processors", name],
            "timeoutSeconds": 300,
            "retry": {"limit": 2, "backoff": {"initialSeconds": 1}},
        },
    }


def example_documents(directory: pathlib.Path) -> list[dict[str, Any]]:
    """Every switchyard object in ``directory/*.yaml``, Components first, then RoutingRules, then Workflows."""
    docs = [
        doc
        for path in sorted(directory.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") in PLURALS
    ]
    return sorted(docs, key=lambda doc: KIND_ORDER.index(doc["kind"]) if doc["kind"] in KIND_ORDER else 99)


# -- rendering ---------------------------------------------------------------------------------------------


def workflow_table_rows(rows: Sequence[WorkflowRow]) -> list[list[str]]:
    return [
        [
            row.name,
            row.status.phase,
            row.status.progress or "",
            row.status.route.summary if row.status.route else "",
            row.expect or "",
            row.status.message or "",
        ]
        for row in rows
    ]


WORKFLOW_HEADERS = ["NAME", "PHASE", "PROGRESS", "ROUTE", "EXPECT", "MESSAGE"]


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def preview(text: str | None) -> str:
    """The start of a node output, without the identity keys every processor repeats."""
    flat = " ".join((text or "").split())
    try:
        value = json.loads(flat)
    except ValueError:
        value = None
    if isinstance(value, dict):
        flat = json.dumps({k: v for k, v in value.items() if k not in IDENTITY_KEYS}, separators=(",", ":"))
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 3] + "..."


class Screen:
    """Output through rich when it is installed (a live table on a terminal), else plain text."""

    def __init__(self) -> None:
        self.console = Console(highlight=False) if Console is not None else None
        if self.console is not None and not self.console.is_terminal:
            self.console = Console(highlight=False, width=max(self.console.width, PIPE_WIDTH))

    @property
    def live_capable(self) -> bool:
        return self.console is not None and self.console.is_terminal

    def print(self, text: str = "") -> None:
        if self.console is not None:
            self.console.print(text, markup=False, soft_wrap=True)
        else:
            print(text, flush=True)

    def heading(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"\n== {text}", style="bold", markup=False, soft_wrap=True)
        else:
            print(f"\n== {text}", flush=True)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Any:
        if self.console is None:
            return f"{title}\n{plain_table(headers, rows)}"
        table = Table(title=title, title_justify="left", expand=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        return table

    def show(self, renderable: Any) -> None:
        if self.console is not None:
            self.console.print(renderable)
        else:
            print(renderable, flush=True)


def watch_workflows(sandbox: Sandbox, screen: Screen, names: Sequence[str], timeout: float) -> list[WorkflowRow]:
    """Refresh a table of the Workflows until all are in a final phase or ``timeout`` passes."""
    deadline = time.monotonic() + timeout

    def render(rows: Sequence[WorkflowRow]) -> Any:
        waited = timeout - max(0.0, deadline - time.monotonic())
        return screen.table(f"Workflows ({waited:.0f}s)", WORKFLOW_HEADERS, workflow_table_rows(rows))

    rows = sandbox.workflows(names)
    if screen.live_capable:
        with Live(render(rows), console=screen.console, refresh_per_second=4, transient=True) as live:
            while not all(r.final for r in rows) and time.monotonic() < deadline:
                check_operator(sandbox)
                time.sleep(0.25)
                rows = sandbox.workflows(names)
                live.update(render(rows))
        return rows
    seen: dict[str, str] = {}
    while True:
        for row in rows:
            state = f"{row.status.phase} {row.status.progress or ''}".strip()
            if seen.get(row.name) != state:
                seen[row.name] = state
                screen.print(f"  {row.name}: {state}")
        if all(r.final for r in rows) or time.monotonic() >= deadline:
            return rows
        check_operator(sandbox)
        time.sleep(0.25)
        rows = sandbox.workflows(names)


def check_operator(sandbox: Sandbox) -> None:
    if not sandbox.operator.alive:
        raise RuntimeError(f"the operator exited; see {sandbox.operator_log}:\n{sandbox.operator.log()[-3000:]}")


def summary(sandbox: Sandbox, screen: Screen, rows: Sequence[WorkflowRow]) -> None:
    screen.show(screen.table("Workflows", WORKFLOW_HEADERS, workflow_table_rows(rows)))
    for row in rows:
        outputs = sandbox.outputs(row.status)
        node_rows = [
            [
                node,
                status.phase,
                str(status.attempts),
                status.fallback or "",
                preview(outputs.get(node) or status.output or status.message),
            ]
            for node, status in row.status.nodes.items()
        ]
        screen.show(screen.table(f"{row.name}: nodes", ["NODE", "PHASE", "ATTEMPTS", "FALLBACK", "OUTPUT"], node_rows))
    components = []
    for item in sandbox.list_objects("Component"):
        status = ComponentStatus.model_validate(item.get("status") or {})
        breaker = status.breaker
        components.append(
            [
                item["metadata"]["name"],
                breaker.state,
                str(breaker.consecutive_failures),
                str(status.runs),
                str(status.failures),
            ]
        )
    screen.show(screen.table("Components", ["NAME", "BREAKER", "CONSECUTIVE", "RUNS", "FAILURES"], components))
    for error in sandbox.runner.errors:
        screen.print(f"job runner error: {error!r}")


def artifact_lines(rows: Sequence[WorkflowRow]) -> list[str]:
    """Where each Workflow's output artifacts are (their nodes' manifests in the store)."""
    lines: list[str] = []
    for row in rows:
        nodes = {n: s for n, s in row.status.nodes.items() if s.artifact_manifest and s.artifacts}
        if not nodes:
            continue
        lines.append(f"Artifacts of {row.name} (switchyard artifacts ls {row.name}):")
        for node, status in sorted(nodes.items()):
            count = len(status.artifacts or [])
            listed = f"{count} files" if count < MAX_LISTED else f"{count}+ files (all in the manifest)"
            lines.append(f"  {node}: {listed}, {status.artifact_bytes or 0} bytes; manifest {status.artifact_manifest}")
    return lines


def verdict(rows: Sequence[WorkflowRow]) -> tuple[bool, list[str]]:
    """(all expectations met, one line per Workflow)."""
    lines, ok = [], True
    for row in rows:
        if row.expect is None:
            lines.append(f"  {row.name}: {row.status.phase} (no expectation)")
            continue
        met = row.status.phase == row.expect
        ok = ok and met
        lines.append(f"  {row.name}: {row.status.phase} (expected {row.expect}: {'ok' if met else 'NOT MET'})")
    return ok, lines


DEMO_EVENT = {"specversion": "1.0", "id": "order-1", "source": "/shop", "type": "com.example.order.created"}
DEMO_DATA = {"kind": "order", "id": "A-1", "total": 12.5}


def curl_line(sandbox: Sandbox) -> str:
    """A CloudEvent (binary mode) for the example Triggers, as one curl command."""
    url = f"http://127.0.0.1:{sandbox.ingest_port}/v1/namespaces/{NAMESPACE}/events"
    return (
        f"  curl -i {url} -H 'Authorization: Bearer {ADMIN_TOKEN}' -H 'Content-Type: application/json' \\\n"
        "    -H 'ce-specversion: 1.0' -H 'ce-id: order-2' -H 'ce-source: /shop' "
        "-H 'ce-type: com.example.order.created' \\\n"
        """    -d '{"kind": "order", "id": "A-2", "total": 99}'"""
    )


def demo_event(sandbox: Sandbox, screen: Screen) -> list[str]:
    """Send one event to every example Trigger (the namespace's events endpoint); the Workflows it started."""
    answer = sandbox.post_event(f"/v1/namespaces/{NAMESPACE}/events", DEMO_EVENT, DEMO_DATA)
    started: list[str] = []
    for result in answer.get("triggers", []):
        names = result.get("workflows") or []
        started += names
        where = f"Workflow {', '.join(names)}" if names else f"pending batch {result.get('batch')}"
        screen.print(f"  event order-1 -> Trigger {result['trigger']}: {result['status']} {where}")
    return started


STOPPING_NOTE = (
    "The sandbox stops now (nothing is left to connect to). To explore it with kubectl, run it with "
    "--keep-running (`switchyard dev --keep-running`, `make dev ARGS=--keep-running`)."
)


def store_line(sandbox: Sandbox) -> str:
    assert sandbox.s3 is not None
    return (
        f"Artifact store: S3 API (moto) at {sandbox.s3.endpoint}, bucket {sandbox.s3.bucket}: ArtifactStore "
        f"`default` (Secret {STORE_SECRET}); log {sandbox.s3_log}"
    )


def store_instructions(sandbox: Sandbox) -> list[str]:
    if sandbox.s3 is None:
        return []
    return [
        "The artifact store (`default`, an S3 server on loopback; objects live in its memory until it stops):",
        "  kubectl get artifactstores       # or: kubectl get systore",
        "  switchyard artifacts put FILE KEY; switchyard artifacts ls; switchyard artifacts get KEY -o FILE",
    ]


def instructions(sandbox: Sandbox) -> str:
    """How to reach the sandbox: printed only while it keeps running (never after it has stopped)."""
    return "\n".join(
        [
            "The sandbox keeps running until Ctrl-C. Talk to it from another shell:",
            f"  export KUBECONFIG={sandbox.kubeconfig}",
            "  kubectl get workflows            # or: kubectl get sywf, kubectl get switchyard",
            "  kubectl describe workflow diamond",
            "  kubectl get components,jobs,pods,configmaps",
            "  kubectl apply -f manifests/examples/workflow-diamond.yaml",
            "  kubectl get sywf -w               # watch the Workflows",
            "  kubectl logs -f <pod>            # a node's output, followed while it runs",
            "  kubectl get triggers             # or: kubectl get sytrig",
            "Send a CloudEvent to the example Triggers (the token is the sandbox admin's):",
            curl_line(sandbox),
            *store_instructions(sandbox),
            f"Operator log: {sandbox.operator_log}   Job output: {sandbox.job_logs}/<namespace>/<pod>/<container>.log",
            f"Metrics: http://127.0.0.1:{sandbox.operator.metrics_port}/metrics   (every port listens on 127.0.0.1)",
        ]
    )


def isolation_note(runner: LocalJobRunner) -> str:
    """How containers run here: images are never pulled, a command runs with this machine's programs."""
    if runner.isolated:
        return (
            "Containers: images are NOT pulled; each command runs with this machine's programs, isolated by "
            f"bubblewrap ({runner.bwrap}): its Pod's files only, the host's userland read-only, its runAsUser"
        )
    installed = shutil.which("bwrap")
    why = f"cannot isolate here ({isolation.probe(installed)})" if installed else "is not installed"
    return (
        f"Containers: images are NOT pulled; bubblewrap (bwrap) {why}, so only the switchyard image's "
        f"built-in processors run (unisolated) and any other command is refused: {isolation.HOW_TO_GET_BWRAP}"
    )


def wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


def run(options: Options) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    screen = Screen()
    screen.heading(BANNER)
    sandbox = Sandbox(options)
    try:
        with sandbox.running():
            screen.print(f"API server {sandbox.client.configuration.host}; kubeconfig {sandbox.kubeconfig}")
            screen.print(isolation_note(sandbox.runner))
            for name in BUILTIN_PROCESSORS:
                sandbox.create(builtin_component(name))
            screen.print(f"Created the built-in Components: {', '.join(BUILTIN_PROCESSORS)} (image {IMAGE})")
            if sandbox.s3 is not None:
                sandbox.create_default_store()
                screen.print(store_line(sandbox))
            else:
                screen.print(f"No artifact store: {sandbox.s3_missing}")
            names: list[str] = []
            triggered: list[str] = []
            if options.examples is not None:
                docs = example_documents(options.examples)
                if sandbox.s3 is not None and options.big_input_mib:
                    size = sandbox.put_big_input(options.big_input_mib)
                    screen.print(f"Put a generated input of {size / 2**20:.0f} MiB into the store as {BIG_INPUT_KEY}")
                else:  # an example that needs the store (or its big input) would only end Invalid
                    docs = [d for d in docs if (d["metadata"].get("annotations") or {}).get(NEEDS_STORE[0]) is None]
                for doc in docs:
                    sandbox.create(doc)
                names = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "Workflow"]
                screen.print(f"Applied {len(docs)} objects from {options.examples}")
                if any(doc["kind"] == "Trigger" for doc in docs):
                    screen.print("Posted a CloudEvent to the ingest endpoint:")
                    triggered = demo_event(sandbox, screen)
                    names += triggered
            ok = True
            if names:
                rows = watch_workflows(sandbox, screen, names, options.timeout)
                # Triggered Workflows carry no expectation label (the template sets none): they must succeed.
                rows = [dataclasses.replace(r, expect="Succeeded") if r.name in triggered else r for r in rows]
                unfinished = [r.name for r in rows if not r.final]
                screen.heading("Summary")
                summary(sandbox, screen, rows)
                ok, lines = verdict(rows)
                screen.print("Result:")
                for line in lines:
                    screen.print(line)
                for line in artifact_lines(rows):
                    screen.print(line)
                if unfinished:
                    screen.print(f"Timed out after {options.timeout:.0f}s waiting for: {', '.join(unfinished)}")
                    ok = False
                if sandbox.runner.errors:
                    ok = False
            screen.print()
            if options.keep_running or not names:
                screen.print(instructions(sandbox))
                wait_for_interrupt()
            else:
                screen.print(STOPPING_NOTE)
            return 0 if ok else 1
    except devlock.Locked as e:
        print(f"switchyard dev: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        screen.print("\nStopped.")
        return 130
    except Exception as e:
        print(f"switchyard dev: {e}", file=sys.stderr)
        return 1
