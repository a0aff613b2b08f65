"""`switchyard graph` draws `when` edges and `onExit` nodes distinctly (dashed edges, a box of their own)."""

from __future__ import annotations

from typing import Any

from switchyard.cli import graph, tree, view


def gated() -> dict[str, Any]:
    return {
        "metadata": {"name": "gated", "namespace": "default"},
        "spec": {
            "nodes": [
                {"name": "a", "component": "c"},
                {"name": "b", "component": "c", "dependsOn": ["a"], "when": "upstream.a.result.go"},
            ],
            "onExit": [
                {"name": "notify", "component": "c"},
                {"name": "cleanup", "component": "c", "dependsOn": ["notify"]},
            ],
        },
        "status": {"phase": "Running", "nodes": {"a": {"phase": "Succeeded"}, "b": {"phase": "Skipped"}}},
    }


def test_the_view_knows_exit_nodes_and_conditions() -> None:
    built = view.build(gated())
    assert [(n.name, n.exit, n.when) for n in built.nodes] == [
        ("a", False, None),
        ("b", False, "upstream.a.result.go"),
        ("notify", True, None),
        ("cleanup", True, None),
    ]
    assert built.nodes[3].depends_on == ("notify",) and built.nodes[3].status.phase == "Pending"


def test_dot_draws_when_dashed_and_exit_nodes_in_their_box_after_the_dag() -> None:
    source = graph.to_dot(view.build(gated())).source
    assert "a -> b [label=when style=dashed]" in source
    assert "subgraph cluster_onexit" in source and "label=onExit" in source
    assert "b -> notify [label=onExit arrowhead=empty style=dotted]" in source
    assert "notify -> cleanup\n" in source and "a -> notify" not in source  # only from the DAG's sinks


def test_mermaid_draws_them_too() -> None:
    lines = graph.to_mermaid(view.build(gated())).splitlines()
    assert "    n0 -.->|when| n1" in lines
    assert "    subgraph onExit" in lines and "    n2 --> n3" in lines
    assert "    n1 -.->|onExit| n2" in lines


def test_get_marks_the_exit_handlers() -> None:
    lines = [(branch, node.name, mark) for branch, node, mark in tree.layout(view.build(gated()).nodes)]
    assert ("└─", "notify", " (onExit)") in lines and ("  └─", "cleanup", "") in lines
