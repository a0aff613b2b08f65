"""`switchyard submit FILE [--watch|--wait] [--generate-name]`: create the file's Workflows, then (optionally)
draw their tree live or wait for them, exiting 0 only when every one Succeeded (as `argo submit --wait` does).

Registered on the `switchyard` app by `switchyard.cli.main`; the cluster access is `switchyard.cli.cluster`.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import re
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.text import Text

from switchyard.cli import tree, view
from switchyard.cli.cluster import Cluster, ClusterError
from switchyard.cli.main import (
    Redraw,
    _breakers,
    _cluster_call,
    _settings,
    app,
    err,
    fail,
    node_results,
    out,
    show,
    with_outputs,
)
from switchyard.cli.validate import Report, load
from switchyard.models.crd import API_VERSION
from switchyard.models.workflow import PARAM_NAME

EXIT_NOT_SUCCEEDED = 1


def workflow_body(doc: Mapping[str, Any], generate_name: bool) -> dict[str, Any]:
    """The object to create: the document without server-set fields; with `generate_name`, `metadata.name`
    becomes `generateName: <name>-` so the same file can be submitted again and again."""
    body = copy.deepcopy(dict(doc))
    body.pop("status", None)
    metadata = dict(body.get("metadata") or {})
    for server_set in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        metadata.pop(server_set, None)
    name = metadata.get("name")
    if generate_name and name:
        metadata.pop("name")
        metadata["generateName"] = f"{name}-"
    body["metadata"] = metadata
    return body


def outcome(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """(succeeded, the line that says how the Workflow ended: phase, the reason of a failure, the message)."""
    built = view.build(obj)
    line = f"workflow {built.name}: {built.phase}"
    reason = tree.phase_reason(built)
    if reason:
        line += f" ({reason})"
    if built.status.message:
        line += f": {built.status.message}"
    return built.phase == "Succeeded", line


def _documents(file: pathlib.Path) -> list[dict[str, Any]]:
    report = Report()
    docs = load(file, report)
    if report.problems:
        raise fail(str(report.problems[0]))
    workflows = []
    for doc in docs:
        if doc.kind == "Workflow" and doc.body.get("apiVersion") == API_VERSION:
            workflows.append(dict(doc.body))
        else:
            err.print(
                Text(f"note: {file}: doc {doc.index}: {doc.label} is not submitted (kubectl apply it)", style="dim")
            )
    if not workflows:
        raise fail(f"{file}: no {API_VERSION} Workflow in the file")
    return workflows


def _finished(cluster: Cluster, name: str, draw: bool) -> dict[str, Any]:
    """The Workflow once it has finished; with `draw`, its tree redrawn on every change meanwhile."""
    if not draw:
        for obj in cluster.watch_workflow(name):
            if view.build(obj).phase in view.FINISHED_WORKFLOW_PHASES:
                return obj
    with Redraw() as live:
        for obj in cluster.watch_workflow(name):
            obj = with_outputs(obj, cluster)
            current = view.build(obj, _breakers(cluster), node_results(obj, cluster))
            live.update(tree.render(current))
            if current.phase in view.FINISHED_WORKFLOW_PHASES:
                return obj
    raise ClusterError(f"workflow {name}: the watch ended")  # pragma: no cover - watch_workflow never ends


TEMPLATE_KINDS = ("workflowtemplate", "workflowtemplates", "sywft")


def template_workflow(source: str, parameters: list[str], name: str | None) -> dict[str, Any]:
    """The Workflow that runs `workflowtemplate/NAME` with `-p NAME=VALUE` arguments (as `argo submit --from`);
    named `<template>-<random>` by the API server unless `name` is given."""
    kind, _, template = source.partition("/")
    if kind.lower() not in TEMPLATE_KINDS or not template:
        raise fail(f"--from {source!r}: give workflowtemplate/NAME")
    arguments: dict[str, str] = {}
    for item in parameters:
        key, equals, value = item.partition("=")
        if not equals or not re.match(PARAM_NAME, key):
            raise fail(f"-p {item!r}: give NAME=VALUE (NAME: letters, digits and _, not starting with a digit)")
        arguments[key] = value
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": f"{template}-"}
    spec = {"workflowTemplateRef": {"name": template}, "arguments": arguments}
    return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}


@app.command("submit")
def submit_command(
    ctx: typer.Context,
    file: Annotated[
        pathlib.Path | None,
        typer.Argument(metavar="[FILE]", help="YAML with one or more Workflows", exists=True, dir_okay=False),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="workflowtemplate/NAME", help="run this WorkflowTemplate instead of a FILE"),
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", "-p", metavar="NAME=VALUE", help="an argument of the template (repeatable)"),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="with --from: the Workflow's name (default <template>-<random>)")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="draw the live tree until each Workflow finishes")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="wait silently until each Workflow finishes")] = False,
    generate_name: Annotated[
        bool,
        typer.Option(
            "--generate-name", help="create as metadata.generateName=<name>- (submit the same file again and again)"
        ),
    ] = False,
) -> None:
    """Create the Workflows in FILE (or one running a WorkflowTemplate: --from workflowtemplate/NAME -p
    NAME=VALUE) and print their names; with --watch or --wait, exit 0 only when every one Succeeded (else 1,
    with its phase and message)."""
    if (file is None) == (from_ is None):
        raise fail("give a FILE or --from workflowtemplate/NAME (one of them)")
    if from_ is None and (parameter or name):
        raise fail("-p and --name go with --from")
    if from_ is not None:
        bodies = [template_workflow(from_, parameter or [], name)]
    else:
        assert file is not None
        bodies = [workflow_body(doc, generate_name) for doc in _documents(file)]
    cluster = _cluster_call(_settings(ctx).cluster)
    names = []
    for body in bodies:
        created = _cluster_call(functools.partial(cluster.create_workflow, body))
        names.append(created["metadata"]["name"])
        out.print(created["metadata"]["name"])
    if not (watch or wait):
        return
    failed = 0
    for name in names:
        try:
            obj = _finished(cluster, name, draw=watch)
        except ClusterError as error:
            raise fail(str(error)) from error
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        succeeded, line = outcome(obj)
        if succeeded:
            show(Text(line))
        else:
            failed += 1
            err.print(Text(line, style="bold red"))
    if failed:
        raise typer.Exit(EXIT_NOT_SUCCEEDED)
