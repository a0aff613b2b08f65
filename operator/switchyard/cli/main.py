"""The `switchyard` command (also `kubectl switchyard`): validate, route, submit, list, get, graph, logs, stop,
retry, artifacts, ui, dev.

Built on typer + rich; cluster access is pykube-ng (`switchyard.cli.cluster`), with `--kubeconfig`, `--context`
and `--namespace` as kubectl has them. Offline commands (`validate`, `route --rules`, `graph FILE`) need no cluster.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.text import Text

from switchyard.cli import artifacts as artifacts_cli
from switchyard.cli import graph as graphing
from switchyard.cli import helpstyle, tree, view
from switchyard.cli.actions import stop_reason
from switchyard.cli.cluster import Cluster, ClusterError
from switchyard.cli.validate import load, validate
from switchyard.models.common import MAX_MESSAGE
from switchyard.models.labels import ANNOTATION_STOP, LABEL_NODE, LABEL_WORKFLOW

PREVIEW = 120
RESULT_CONFIGMAPS = 4  # `get` reads whole outputs from at most this many ConfigMaps per draw

app = typer.Typer(
    name="switchyard",
    help="Switchyard workflows from the command line: validate and route files, submit, list, get, graph, logs, "
    "stop and retry Workflows, put and get artifacts, serve the ui; `switchyard dev` runs the sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Piped output is not cut at 80 columns (rich's default without a terminal): $COLUMNS, else 200.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 200)
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def show(renderable: Any, *, crop: bool = True) -> None:
    """Print to stdout; piped output loses the cell padding rich puts at line ends. `crop=False`: a line wider
    than the output is printed whole."""
    if out.is_terminal:
        out.print(renderable, crop=crop)
        return
    with out.capture() as captured:
        out.print(renderable, crop=crop)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


class Redraw:
    """A view redrawn in place on a terminal (rich's Live); piped, only its last frame is printed, once, as
    `show` prints (a pipe or a file gets no cursor moves and no padding at line ends)."""

    def __init__(self) -> None:
        self._live = Live(console=out, auto_refresh=False) if out.is_terminal else None
        self._last: Any = None

    def __enter__(self) -> Redraw:
        if self._live is not None:
            self._live.__enter__()
        return self

    def update(self, renderable: Any) -> None:
        if self._live is not None:
            self._live.update(renderable, refresh=True)
        self._last = renderable

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
        elif self._last is not None:
            show(self._last)


class OutputFormat(StrEnum):
    json = "json"
    yaml = "yaml"


@dataclass
class Settings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def cluster(self) -> Cluster:
        return Cluster.connect(self.kubeconfig, self.context, self.namespace)


def version() -> str:
    try:
        return metadata.version("switchyard")
    except metadata.PackageNotFoundError:
        return "unknown"


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"switchyard {version()}")
        raise typer.Exit()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(Text(f"error: {message}", style="bold red"))
    return typer.Exit(code)


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.find_object(Settings)
    return settings if settings is not None else Settings()


def _cluster_call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ClusterError as error:
        raise fail(str(error)) from error


@app.callback()
def _root(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="kubeconfig file (default $KUBECONFIG)")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="namespace (default: the context's)")
    ] = None,
    _version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="print the version")
    ] = False,
) -> None:
    ctx.obj = Settings(kubeconfig, context, namespace)


# --- dev --------------------------------------------------------------------------------------------------------


@app.command(
    help="Run the sandbox: an in-memory Kubernetes API emulator (not a cluster), the operator and a local job "
    "runner; create the built-in Components, apply the examples and show the Workflows until they finish. "
    "Exit 0 when every Workflow labelled switchyard.dev/expect: Succeeded succeeded."
)
def dev(
    directory: Annotated[pathlib.Path, typer.Option("--dir", help="kubeconfig and logs")] = pathlib.Path(".sandbox"),
    examples: Annotated[
        pathlib.Path | None, typer.Option(help="directory of YAML to apply (default: manifests/examples)")
    ] = None,
    no_examples: Annotated[bool, typer.Option("--no-examples", help="apply nothing (implies --keep-running)")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the examples (default 120)")] = 120.0,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="stay up after the examples until Ctrl-C")
    ] = False,
    ingest_port: Annotated[
        int, typer.Option("--ingest-port", help="port of the CloudEvents ingest endpoint (0: a free one)")
    ] = 0,
) -> None:
    try:
        from switchyard.sandbox import dev as sandbox
    except ImportError as e:
        print(f"switchyard dev needs the sandbox extra (pip install 'switchyard[sandbox]'): {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    chosen = None if no_examples else (examples or sandbox.REPO_EXAMPLES)
    if chosen is not None and not chosen.is_dir():
        print(f"switchyard dev: no examples directory {chosen} (use --examples DIR or --no-examples)", file=sys.stderr)
        raise typer.Exit(2)
    options = sandbox.Options(
        dir=directory, examples=chosen, timeout=timeout, keep_running=keep_running, ingest_port=ingest_port
    )
    raise typer.Exit(sandbox.run(options))


# --- validate ---------------------------------------------------------------------------------------------------


@app.command("validate")
def validate_command(
    ctx: typer.Context,
    files: Annotated[list[pathlib.Path], typer.Argument(help="YAML files or directories (multi-document)")],
    components: Annotated[
        list[pathlib.Path] | None,
        typer.Option("--components", help="more YAML with the Components the nodes may use (repeatable)"),
    ] = None,
    builtins: Annotated[
        bool,
        typer.Option(
            "--builtins/--no-builtins",
            help="count the built-in Components (json-processor, chunking-processor, numeric-processor, "
            "data-validator) as known",
        ),
    ] = True,
    in_cluster: Annotated[
        bool,
        typer.Option(
            "--cluster/--no-cluster",
            help="count the Components of the cluster's namespace (-n, else the context's) as known, when the "
            "cluster answers",
        ),
    ] = True,
) -> None:
    """Check Switchyard YAML: schema, DAG (cycles, dependencies), components (the files', the built-in ones and
    the cluster's when it answers) and CEL; exit 1 on problems."""
    cluster_components, why = None, "--no-cluster"
    if in_cluster:
        settings = _settings(ctx)
        try:
            connected = Cluster.connect(settings.kubeconfig, settings.context, settings.namespace, timeout=5)
            cluster_components = connected.component_names()
        except ClusterError as error:
            why = f"no cluster: {error}"
    report = validate(
        files, components or [], builtins=builtins, cluster_components=cluster_components, not_consulted=why
    )
    for note in report.notes:
        out.print(Text(f"note: {note}", style="dim"))
    for problem in report.problems:
        out.print(Text("✖ ", style="bold red") + Text(str(problem)))
    if not report.problems and report.checked == 0:
        raise fail("no Switchyard objects found")
    noun = "object" if report.checked == 1 else "objects"
    if report.problems:
        count = len(report.problems)
        out.print(f"{report.checked} {noun} checked: {count} problem{'s' if count != 1 else ''}")
        raise typer.Exit(1)
    out.print(Text("✔ ", style="green") + Text(f"{report.checked} {noun} valid"))


# --- get --------------------------------------------------------------------------------------------------------


def with_outputs(obj: dict[str, Any], cluster: Cluster) -> dict[str, Any]:
    """Fill output previews missing from a compact status (above 1,000 nodes) from the outputs ConfigMaps."""
    status = obj.get("status") or {}
    nodes = status.get("nodes") or {}
    missing = [n for n, s in nodes.items() if s.get("phase") in ("Succeeded", "FellBack") and not s.get("output")]
    if not missing or not status.get("outputs"):
        return obj
    outputs = cluster.outputs(list(status["outputs"]))
    for name in missing:
        if name in outputs:
            nodes[name]["output"] = outputs[name][:PREVIEW]
    return obj


def node_results(obj: dict[str, Any], cluster: Cluster) -> dict[str, str]:
    """Whole node outputs for the MESSAGE column (a status keeps 120 characters, mostly the keys every result
    starts with), from the outputs ConfigMaps when there are a few; else the previews do."""
    names = list((obj.get("status") or {}).get("outputs") or [])
    if not names or len(names) > RESULT_CONFIGMAPS:
        return {}
    try:
        return cluster.outputs(names)
    except ClusterError:  # e.g. no RBAC on ConfigMaps: the previews do
        return {}


def _breakers(cluster: Cluster) -> dict[str, str]:
    try:
        return cluster.breakers()
    except ClusterError as error:  # e.g. no RBAC on Components: the tree still renders
        err.print(Text(f"warning: breaker states unavailable: {error}", style="yellow"))
        return {}


@app.command("get")
def get_command(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="Workflow name")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="redraw on every change until it finishes")] = False,
    output: Annotated[OutputFormat | None, typer.Option("--output", "-o", help="json or yaml")] = None,
    expand: Annotated[bool, typer.Option("--expand", help="list each forEach instance under its node")] = False,
) -> None:
    """Show a Workflow as a tree: each node's phase, attempts, duration, Job, message or output, breaker state;
    a forEach node as `NODE [17/20]` (`--expand`: its instances too)."""
    cluster = _cluster_call(_settings(ctx).cluster)
    if output is not None:
        obj = _cluster_call(lambda: cluster.workflow(workflow))
        if output is OutputFormat.json:
            out.print_json(json.dumps(obj), highlight=False) if out.is_terminal else print(json.dumps(obj, indent=2))
        else:
            print(yaml.safe_dump(obj, sort_keys=False), end="")
        return
    if not watch:
        obj = _cluster_call(lambda: with_outputs(cluster.workflow(workflow), cluster))
        show(tree.render(view.build(obj, _breakers(cluster), node_results(obj, cluster), expand)))
        if (recorded := artifacts_cli.recorded_table(obj)) is not None:  # the nodes' output files in the store
            show(recorded)
        return
    try:
        with Redraw() as live:
            for obj in cluster.watch_workflow(workflow):
                obj = with_outputs(obj, cluster)
                current = view.build(obj, _breakers(cluster), node_results(obj, cluster), expand)
                live.update(tree.render(current))
                if current.phase in view.FINISHED_WORKFLOW_PHASES:
                    break
    except ClusterError as error:
        raise fail(str(error)) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


# --- graph ------------------------------------------------------------------------------------------------------


def _file_view(path: pathlib.Path, name: str | None) -> view.WorkflowView:
    """The Workflow or RoutingRule of the file named `name`; without a name the first with nodes, saying which
    when the file has several."""
    report = validate([])
    docs = [d for d in load(path, report) if d.kind in ("Workflow", "RoutingRule")]
    if report.problems:
        raise fail(str(report.problems[0]))
    if not docs:
        raise fail(f"{path}: no Workflow or RoutingRule in the file")
    if name is not None:
        named = [d for d in docs if name in (d.name, d.label)]
        if not named:
            raise fail(
                f"{path}: no Workflow or RoutingRule named {name!r} (in the file: {', '.join(d.name for d in docs)})"
            )
        chosen = named[0]
    else:
        drawable = [d for d in docs if view.spec_nodes(d.body.get("spec") or {})] or docs
        chosen = drawable[0]
        if len(docs) > 1:
            others = ", ".join(d.name for d in docs if d is not chosen)
            which = "the only one" if len(drawable) == 1 else "the first"
            err.print(
                Text(
                    f"note: drew {chosen.label}, {which} of {len(docs)} documents with nodes (others: {others}); "
                    "choose one with --name",
                    style="dim",
                )
            )
    try:
        return view.build(dict(chosen.body))
    except ValueError as error:
        raise fail(f"{path}: {chosen.label}: {error}") from error


@app.command("graph")
def graph_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="WORKFLOW|FILE", help="a Workflow name, or a YAML file")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="x.svg, x.png, x.dot or x.mmd (Mermaid)")],
    name: Annotated[str | None, typer.Option("--name", help="in a FILE of several documents, the one to draw")] = None,
) -> None:
    """Draw a Workflow's DAG coloured by node phase (Graphviz; .mmd is Mermaid text)."""
    path = pathlib.Path(source)
    if path.is_file():
        graph_view = _file_view(path, name)
    else:
        cluster = _cluster_call(_settings(ctx).cluster)
        graph_view = view.build(_cluster_call(lambda: cluster.workflow(source)))
    if not graph_view.nodes:
        raise fail(f"{source}: no nodes to draw (a routed Workflow has nodes once it is routed)")
    try:
        graphing.write(graph_view, output)
    except graphing.GraphError as error:
        raise fail(str(error)) from error
    except OSError as error:
        raise fail(f"{output}: {error.strerror or error}") from error
    out.print(f"wrote {output} ({len(graph_view.nodes)} nodes)")


# --- logs -------------------------------------------------------------------------------------------------------


def chosen_attempt(node: str, latest: int, attempt: int | None, previous: bool) -> int:
    """The attempt `logs NODE --attempt N` or `--previous` (the one before the latest) reads; a ValueError says
    why there is none."""
    if attempt is None and previous and latest < 2:
        ran = "has not run yet" if latest < 1 else "has 1 attempt"
        raise ValueError(f"node {node} {ran}: no previous attempt")
    wanted = attempt if attempt is not None else latest - 1
    if wanted < 1 or wanted > latest:
        raise ValueError(f"node {node} has {latest} attempt(s): no attempt {wanted}")
    return wanted


def ran(node: view.NodeView) -> bool:
    """Did the node run a Job? A compact status (forEach instances) keeps no Job name, only the attempt."""
    return bool(node.status.job) or (node.status.attempts >= 1 and node.status.phase not in ("Pending", "Skipped"))


def pod_of(cluster: Cluster, workflow: dict[str, Any], node: view.NodeView) -> Any:
    """The Pod of the node's latest attempt: by its Job's name, else by the attempt's labels."""
    if node.status.job:
        return cluster.job_pod(node.status.job)
    return cluster.attempt_pod(workflow, node.name, node.status.attempts)


@app.command("logs")
def logs_command(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="Workflow name")],
    node: Annotated[str | None, typer.Argument(help="node name (default: every node that ran)")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="stream the log as it grows")] = False,
    attempt: Annotated[
        int | None, typer.Option("--attempt", min=1, help="the log of this attempt of NODE (1 is the first)")
    ] = None,
    previous: Annotated[
        bool, typer.Option("--previous", "-p", help="the log of NODE's attempt before the latest")
    ] = False,
) -> None:
    """Print the logs of a node's latest attempt (its Job's Pod), or of every node that ran."""
    cluster = _cluster_call(_settings(ctx).cluster)
    workflow_obj = _cluster_call(lambda: cluster.workflow(workflow))
    current = view.build(workflow_obj, expand=True)  # a forEach instance NODE[i] is a node of its own here
    by_name = {n.name: n for n in current.nodes}
    if attempt is not None or previous:
        if node is None or node not in by_name:
            raise fail(f"--attempt and --previous need one NODE of workflow {workflow} ({', '.join(by_name)})")
        try:
            wanted = chosen_attempt(node, by_name[node].status.attempts or 0, attempt, previous)
        except ValueError as error:
            raise fail(str(error)) from error
        pod = _cluster_call(functools.partial(cluster.attempt_pod, workflow_obj, node, wanted))
        try:
            if follow:
                for line in cluster.follow_logs(pod):
                    print(line, flush=True)
            else:
                text = str(cluster.logs(pod))
                print(text, end="" if text.endswith("\n") or not text else "\n")
        except ClusterError as error:
            raise fail(str(error)) from error
        return
    if node is not None:
        if node not in by_name:
            raise fail(f"workflow {workflow} has no node {node!r} (nodes: {', '.join(by_name) or 'none yet'})")
        if not ran(by_name[node]):
            hint = (
                ""
                if by_name[node].status.phase in ("Pending", "Skipped")
                else (
                    f"; its Job is no longer recorded: try kubectl logs -l {LABEL_WORKFLOW}={workflow},"
                    f"{LABEL_NODE}={node}"
                )
            )
            raise fail(f"node {node} has no Job (phase {by_name[node].status.phase}){hint}")
        chosen = [by_name[node]]
    else:
        chosen = [n for n in current.nodes if ran(n)]
        if not chosen:
            raise fail(f"workflow {workflow}: no node has run yet")
        if follow and len(chosen) > 1:
            raise fail(f"name the NODE to follow ({', '.join(n.name for n in chosen)})")
    if follow:
        pod = _cluster_call(functools.partial(pod_of, cluster, workflow_obj, chosen[0]))
        try:
            for line in cluster.follow_logs(pod):
                print(line, flush=True)
        except ClusterError as error:
            raise fail(str(error)) from error
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        return
    if len(chosen) == 1:
        pod = _cluster_call(functools.partial(pod_of, cluster, workflow_obj, chosen[0]))
        text = str(_cluster_call(functools.partial(cluster.logs, pod)))
        print(text, end="" if text.endswith("\n") or not text else "\n")
        return
    failures = 0
    for item in chosen:  # every node that ran, each line prefixed with the node (as `argo logs` does)
        try:
            text = cluster.logs(pod_of(cluster, workflow_obj, item))
        except ClusterError as error:
            failures += 1
            err.print(Text(f"warning: {item.name}: {error}", style="yellow"))
            continue
        for line in text.splitlines():
            print(f"{item.name}: {line}")
    if failures == len(chosen):
        raise typer.Exit(1)


# --- stop and retry ---------------------------------------------------------------------------------------------


@app.command("stop")
def stop_command(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="Workflow name")],
    reason: Annotated[str | None, typer.Option("--reason", help="recorded in the Failed condition")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the Workflow is Failed")] = False,
    timeout: Annotated[float, typer.Option(help="seconds for --wait")] = 120.0,
) -> None:
    """Stop a running Workflow: the operator deletes its running Jobs and fails it with reason Stopped."""
    cluster = _cluster_call(_settings(ctx).cluster)
    obj = _cluster_call(lambda: cluster.workflow(workflow))
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase in view.FINISHED_WORKFLOW_PHASES:
        out.print(f"workflow {workflow} already finished ({phase}): nothing to stop")
        return
    text = stop_reason(getpass.getuser(), reason)[:MAX_MESSAGE]
    _cluster_call(lambda: cluster.stop(workflow, text))
    out.print(f"workflow {workflow}: stop requested ({ANNOTATION_STOP}: {text})")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while True:
        phase = (_cluster_call(lambda: cluster.workflow(workflow)).get("status") or {}).get("phase", "Pending")
        if phase in view.FINISHED_WORKFLOW_PHASES:
            out.print(f"workflow {workflow}: {phase}")
            raise typer.Exit(0 if phase == "Failed" else 1)
        if time.monotonic() >= deadline:
            raise fail(f"workflow {workflow} still {phase} after {timeout:g}s")
        time.sleep(1.0)  # a CLI poll, not a test wait


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="a Failed Workflow")],
) -> None:
    """Re-run a Failed Workflow as a new one (`<name>-retry-<n>`) that reuses the succeeded nodes' outputs."""
    cluster = _cluster_call(_settings(ctx).cluster)
    obj = _cluster_call(lambda: cluster.workflow(workflow))
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase != "Failed":
        advice = {
            "Succeeded": "nothing to retry",
            "Invalid": "its spec is invalid: create a corrected Workflow (check it with switchyard validate)",
        }.get(phase, "stop it first (switchyard stop)")
        raise fail(f"workflow {workflow} is {phase}: only a Failed Workflow can be retried; {advice}")
    created = _cluster_call(lambda: cluster.retry(obj))
    name = created["metadata"]["name"]
    if not (created.get("spec") or {}).get("reuse"):
        err.print(
            Text(
                "warning: the API server dropped spec.reuse (CRDs older than this CLI): the new Workflow re-runs "
                "every node",
                style="yellow",
            )
        )
    out.print(name)


# --- commands in modules of their own (each registers itself on `app`) ----------------------------------------

from switchyard.cli import listing, route, submit, ui  # noqa: E402, F401

# --- entry points -----------------------------------------------------------------------------------------------


app.add_typer(artifacts_cli.app)  # `switchyard artifacts put|get|ls`


def _prog_name(argv0: str) -> str:
    base = os.path.basename(argv0)
    return "kubectl switchyard" if base.startswith("kubectl-") else "switchyard"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = helpstyle.kubectl_style(typer.main.get_command(app))
        command.main(args=args, prog_name=_prog_name(sys.argv[0]), standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # `python -m switchyard.cli.main`: run the module the other commands registered on
    from switchyard.cli.main import main as registered

    sys.exit(registered())
