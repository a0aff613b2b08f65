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


def fan(for_each: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "fan", "namespace": "default"},
        "spec": {
            "nodes": [
                {"name": "split", "component": "c"},
                {"name": "map", "component": "p", "dependsOn": ["split"], "forEach": for_each},
                {"name": "sum", "component": "c", "dependsOn": ["map"]},
            ]
        },
        "status": status or {},
    }


def test_dot_draws_an_inline_items_for_each_node_as_a_stack_with_its_count() -> None:
    source = graph.to_dot(view.build(fan({"items": [1, 2, 3]}))).source
    assert 'map [label="◷ map [x3]\np\nPending" fillcolor="#e0e0e0" shape=box3d style=filled]' in source
    assert "split -> map\n" in source and "map -> sum\n" in source
    assert 'split [label="◷ split\nc\nPending" fillcolor="#e0e0e0"]' in source  # other nodes as before


def test_dot_draws_a_from_node_for_each_node_as_a_stack_of_unknown_size() -> None:
    source = graph.to_dot(view.build(fan({"fromNode": "split"}))).source
    assert 'map [label="◷ map [forEach]\np\nPending" fillcolor="#e0e0e0" shape=box3d style=filled]' in source


def test_dot_shows_a_for_each_node_s_progress_and_no_node_per_instance() -> None:
    status = {
        "phase": "Running",
        "nodes": {
            "split": {"phase": "Succeeded"},
            "map": {"phase": "Running", "progress": "17/20", "reason": "Expanded"},
            **{f"map[{i}]": {"phase": "Succeeded"} for i in range(17)},
            "map[17]": {"phase": "Running"},
        },
    }
    source = graph.to_dot(view.build(fan({"fromNode": "split"}, status))).source
    assert 'map [label="● map [forEach]\np\nRunning 17/20" fillcolor="#9ecbff" shape=box3d style=filled]' in source
    assert "map[" not in source.replace("map [", "")  # no instance node, no instance edge
    mermaid = graph.to_mermaid(view.build(fan({"fromNode": "split"}, status)))
    assert "map [forEach]<br/>p<br/>Running 17/20" in mermaid and "map[0]" not in mermaid
