"""`switchyard graph`: a Workflow's DAG coloured by node phase, as Graphviz (.dot/.svg/.png) or Mermaid (.mmd).

The `graphviz` package writes DOT source itself; rendering .svg/.png runs Graphviz's `dot` binary.
"""

from __future__ import annotations

import pathlib

import graphviz

from switchyard.cli.view import COLOURS, SYMBOLS, NodeView, WorkflowView

FORMATS = ("dot", "svg", "png", "mmd")
DOT_PACKAGE_HINT = "the Graphviz `dot` program is needed for .svg/.png (Debian/Ubuntu: apt-get install graphviz)"


class GraphError(Exception):
    """The graph cannot be written (unknown format, `dot` missing); the message is for the user."""


def _stack(node: NodeView) -> str:
    """A forEach node's tag: `[x20]` when its items are inline, `[forEach]` when they are known only at run time."""
    if node.for_each is None:
        return ""
    return f" [x{len(node.for_each.items)}]" if node.for_each.items is not None else " [forEach]"


def _label(node: NodeView) -> str:
    """Symbol and name (with a forEach node's tag), its component, its phase (with its instances' progress)."""
    phase = node.status.phase
    lines = [f"{SYMBOLS.get(phase, '')} {node.name}{_stack(node)}".strip()]
    if node.component and node.component != node.name:
        lines.append(node.component)
    lines.append(f"{phase} {node.status.progress}" if node.for_each is not None and node.status.progress else phase)
    return "\n".join(lines)


def _node_attrs(node: NodeView) -> dict[str, str]:
    """Fill by phase; a forEach node is drawn as a stack (one node for all its instances)."""
    attrs = {"fillcolor": COLOURS.get(node.status.phase, "white")}
    if node.for_each is not None:
        attrs.update(shape="box3d", style="filled")
    return attrs


def to_dot(view: WorkflowView) -> graphviz.Digraph:
    """Edges point from a dependency to its dependent (data flows along the arrows)."""
    graph = graphviz.Digraph(
        name=view.name or "workflow", graph_attr={"rankdir": "LR", "label": view.name, "fontname": "Helvetica"}
    )
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica")
    for node in view.nodes:  # the view holds no forEach instances (`NODE[i]`): their node stands for them
        if node.exit:
            continue
        graph.node(node.name, _label(node), **_node_attrs(node))
    exits = [node for node in view.nodes if node.exit]
    if exits:  # exit handlers in a dashed box of their own
        with graph.subgraph(name="cluster_onexit") as box:
            box.attr(label="onExit", style="dashed")
            for node in exits:
                box.node(node.name, _label(node), **_node_attrs(node))
    for node in view.nodes:
        for dep in node.depends_on:
            if node.when:  # a conditional edge: dashed, labelled
                graph.edge(dep, node.name, style="dashed", label="when")
            else:
                graph.edge(dep, node.name)
    for source, root in _exit_edges(view):  # after the DAG ended, whatever its outcome
        graph.edge(source, root, style="dotted", label="onExit", arrowhead="empty")
    return graph


def _exit_edges(view: WorkflowView) -> list[tuple[str, str]]:
    """(DAG sink, exit root) pairs: exit nodes start once every DAG node is finished."""
    main = [node for node in view.nodes if not node.exit]
    depended = {dep for node in main for dep in node.depends_on}
    sinks = [node.name for node in main if node.name not in depended]
    roots = [node.name for node in view.nodes if node.exit and not node.depends_on]
    return [(sink, root) for sink in sinks for root in roots]


def to_mermaid(view: WorkflowView) -> str:
    """Mermaid flowchart text; node ids are n0, n1... (node names may contain dashes)."""
    ids = {node.name: f"n{index}" for index, node in enumerate(view.nodes)}
    lines = ["flowchart LR"]
    exits = [node for node in view.nodes if node.exit]
    for node in view.nodes:
        if node.exit:
            continue
        label = "<br/>".join(_label(node).split("\n"))
        lines.append(f'    {ids[node.name]}["{label}"]:::{node.status.phase.lower()}')
    if exits:
        lines.append("    subgraph onExit")
        for node in exits:
            label = "<br/>".join(_label(node).split("\n"))
            lines.append(f'        {ids[node.name]}["{label}"]:::{node.status.phase.lower()}')
        lines.append("    end")
    for node in view.nodes:
        arrow = " -.->|when| " if node.when else " --> "
        lines.extend(f"    {ids[dep]}{arrow}{ids[node.name]}" for dep in node.depends_on if dep in ids)
    lines.extend(f"    {ids[sink]} -.->|onExit| {ids[root]}" for sink, root in _exit_edges(view))
    for phase, colour in COLOURS.items():
        lines.append(f"    classDef {phase.lower()} fill:{colour},stroke:#555")
    return "\n".join(lines) + "\n"


def write(view: WorkflowView, target: pathlib.Path) -> None:
    """Write the graph in the format the file name's suffix names."""
    fmt = target.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise GraphError(f"unknown graph format {target.suffix or '(none)'!r}: use one of .dot, .svg, .png, .mmd")
    if fmt == "mmd":
        target.write_text(to_mermaid(view), encoding="utf-8")
        return
    graph = to_dot(view)
    if fmt == "dot":
        target.write_text(graph.source, encoding="utf-8")
        return
    try:
        target.write_bytes(graph.pipe(format=fmt))
    except graphviz.ExecutableNotFound as error:
        raise GraphError(DOT_PACKAGE_HINT) from error
    except graphviz.CalledProcessError as error:
        raise GraphError(f"dot failed: {error.stderr.decode(errors='replace') if error.stderr else error}") from error
