"""`switchyard get`'s tree (golden file) and `switchyard graph`'s DOT and Mermaid output, from Workflow dicts."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from switchyard.cli import graph, tree, view

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)


def diamond() -> dict[str, Any]:
    """A failed diamond: one node retried then succeeded, one fell back, one failed, one skipped."""
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "diamond", "namespace": "team-a"},
        "spec": {
            "nodes": [
                {"name": "chunk", "component": "chunking-processor"},
                {"name": "parse", "component": "json-processor", "dependsOn": ["chunk"]},
                {"name": "numbers", "component": "numeric-processor", "dependsOn": ["chunk"]},
                {"name": "validate", "component": "data-validator", "dependsOn": ["parse", "numbers"]},
                {"name": "report", "component": "data-validator", "dependsOn": ["validate"]},
            ]
        },
        "status": {
            "phase": "Failed",
            "progress": "3/5",
            "message": "node validate failed after 3 attempts",
            "route": {"source": "Explicit", "summary": "explicit", "path": []},
            "startedAt": "2026-11-30T12:00:00Z",
            "finishedAt": "2026-11-30T12:00:25Z",
            "outputs": ["diamond-outputs"],
            "nodes": {
                "chunk": {
                    "phase": "Succeeded",
                    "attempts": 2,
                    "job": "diamond-chunk-2-3f2a9c",
                    "startedAt": "2026-11-30T12:00:00Z",
                    "finishedAt": "2026-11-30T12:00:04Z",
                    "output": '{"chunks": 3, "chunkSize": 16}',
                },
                "parse": {
                    "phase": "FellBack",
                    "attempts": 0,
                    "reason": "CircuitOpen",
                    "fallback": "json-lite",
                    "startedAt": "2026-11-30T12:00:04Z",
                    "finishedAt": "2026-11-30T12:00:05Z",
                    "output": '{"valid": false, "fallback": true}',
                },
                "numbers": {
                    "phase": "Succeeded",
                    "attempts": 1,
                    "job": "diamond-numbers-1-77ab01",
                    "startedAt": "2026-11-30T12:00:04Z",
                    "finishedAt": "2026-11-30T12:00:10Z",
                    "output": '{"count": 4, "sum": 94, "mean": 23.5, "min": 12, "max": 42, "values": [12, 17, 23, 42]}',
                },
                "validate": {
                    "phase": "Failed",
                    "attempts": 3,
                    "job": "diamond-validate-3-c0ffee",
                    "startedAt": "2026-11-30T12:00:06Z",
                    "finishedAt": "2026-11-30T12:00:25Z",
                    "reason": "Error",
                    "message": "exit code 2: requireJson: input is not JSON",
                },
                "report": {"phase": "Skipped", "reason": "DependencyFailed"},
            },
        },
    }


def render(obj: dict[str, Any], breakers: dict[str, str] | None = None, width: int = 140) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(tree.render(view.build(obj, breakers), now=NOW))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())  # rich pads cells


def test_tree_matches_the_golden_file() -> None:
    text = render(diamond(), {"json-processor": "Open", "data-validator": "HalfOpen", "chunking-processor": "Closed"})
    golden = GOLDEN / "get-diamond.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_tree_lists_nodes_in_dag_order_with_phase_symbols() -> None:
    lines = render(diamond()).splitlines()
    steps = [line.split()[0:2] for line in lines if line.startswith(("├─", "└─"))]
    assert steps == [["├─✔", "chunk"], ["├─⤷", "parse"], ["├─✔", "numbers"], ["├─✖", "validate"], ["└─○", "report"]]


def test_tree_of_a_routed_workflow_uses_the_route_path() -> None:
    obj = {
        "metadata": {"name": "routed", "namespace": "default"},
        "spec": {"input": {"data": "1 2 3"}},
        "status": {
            "phase": "Running",
            "route": {"source": "Analysis", "path": ["numeric-processor", "data-validator"], "summary": "analysis"},
            "nodes": {"numeric-processor": {"phase": "Running", "attempts": 1, "startedAt": "2026-11-30T12:00:00Z"}},
        },
    }
    text = render(obj)
    assert "├─● numeric-processor" in text
    assert "└─◷ data-validator" in text
    assert "30s" in text  # running for NOW - startedAt


def test_tree_copes_with_a_compact_status() -> None:
    """Above 1,000 nodes finished nodes keep only phase, attempts and finishedAt."""
    nodes = [{"name": f"n{i}", "component": "json-processor"} for i in range(1200)]
    obj = {
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {"nodes": nodes},
        "status": {
            "phase": "Running",
            "progress": "1199/1200",
            "nodes": {
                **{
                    f"n{i}": {"phase": "Succeeded", "attempts": 1, "finishedAt": "2026-11-30T12:00:00Z"}
                    for i in range(1199)
                },
                "n1199": {
                    "phase": "Running",
                    "attempts": 1,
                    "job": "big-n1199-1-abc",
                    "startedAt": "2026-11-30T12:00:00Z",
                },
            },
        },
    }
    lines = render(obj).splitlines()
    assert sum(1 for line in lines if line.startswith(("├─", "└─"))) == 1200
    assert any("n1199" in line and "big-n1199-1-abc" in line for line in lines)


def test_message_prefers_reason_then_fallback_then_output() -> None:
    built = view.build(diamond())
    by_name = {node.name: node for node in built.nodes}
    assert tree.node_message(by_name["validate"]) == "Error: exit code 2: requireJson: input is not JSON"
    assert tree.node_message(by_name["parse"]) == "CircuitOpen; fallback json-lite"
    assert tree.node_message(by_name["chunk"]) == '{"chunks": 3, "chunkSize": 16}'
    assert tree.node_message(by_name["numbers"]).endswith("…")  # cut to one short line


def test_dot_has_every_node_coloured_by_phase_and_every_edge() -> None:
    source = graph.to_dot(view.build(diamond())).source
    assert f'fillcolor="{view.COLOURS["Failed"]}"' in source.split("validate [")[1].split("]")[0]
    assert f'fillcolor="{view.COLOURS["FellBack"]}"' in source.split("parse [")[1].split("]")[0]
    for edge in (
        "chunk -> parse",
        "chunk -> numbers",
        "parse -> validate",
        "numbers -> validate",
        "validate -> report",
    ):
        assert edge in source


def test_mermaid_has_nodes_edges_and_phase_classes() -> None:
    text = graph.to_mermaid(view.build(diamond()))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '    n3["✖ validate<br/>data-validator<br/>Failed"]:::failed' in lines
    assert "    n0 --> n1" in lines and "    n3 --> n4" in lines
    assert any(line.startswith("    classDef failed fill:") for line in lines)


def test_write_picks_the_format_from_the_suffix(tmp_path: pathlib.Path) -> None:
    built = view.build(diamond())
    graph.write(built, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph diamond {")
    graph.write(built, tmp_path / "g.mmd")
    assert (tmp_path / "g.mmd").read_text().startswith("flowchart LR")
    with pytest.raises(graph.GraphError, match=r"unknown graph format '\.jpg'"):
        graph.write(built, tmp_path / "g.jpg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed (apt-get install graphviz)")
def test_svg_is_rendered_with_dot(tmp_path: pathlib.Path) -> None:
    graph.write(view.build(diamond()), tmp_path / "g.svg")
    svg = (tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert view.COLOURS["Failed"] in svg and "validate" in svg


def test_svg_without_dot_names_the_package(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on PATH
    with pytest.raises(graph.GraphError, match="apt-get install graphviz"):
        graph.write(view.build(diamond()), tmp_path / "g.png")


def test_the_phase_shows_the_reason_of_a_stop_or_an_invalid_spec() -> None:
    stopped = diamond()
    stopped["status"]["conditions"] = [
        {"type": "Complete", "status": "False", "reason": "Running"},
        {"type": "Failed", "status": "True", "reason": "Stopped", "message": "stopped by alice via switchyard stop"},
    ]
    assert "Phase:      ✖ Failed (Stopped)\n" in render(stopped)
    invalid = {
        "metadata": {"name": "cyc", "namespace": "d"},
        "spec": {"nodes": [{"name": "a", "component": "p", "dependsOn": ["a"]}]},
        "status": {
            "phase": "Invalid",
            "conditions": [{"type": "Valid", "status": "False", "reason": "SelfDependency"}],
        },
    }
    text = render(invalid)
    assert "Phase:      ⚠ Invalid (SelfDependency)\n" in text
    assert "└─◷ a" in text  # an invalid DAG is listed in spec order


def test_compact_status_previews_come_from_the_outputs_configmaps() -> None:
    from switchyard.cli.main import with_outputs

    class Outputs:  # stands in for Cluster.outputs: the ConfigMaps' data, key = node
        asked: list[list[str]] = []

        def outputs(self, names: list[str]) -> dict[str, str]:
            self.asked.append(names)
            return {"a": "x" * 500, "b": "ignored: b has its preview"}

    obj = {
        "metadata": {"name": "big", "namespace": "d"},
        "spec": {"nodes": [{"name": "a", "component": "p"}, {"name": "b", "component": "p"}]},
        "status": {
            "phase": "Succeeded",
            "outputs": ["big-outputs-0", "big-outputs-1"],
            "nodes": {"a": {"phase": "Succeeded"}, "b": {"phase": "Succeeded", "output": "kept"}},
        },
    }
    source = Outputs()
    filled = with_outputs(obj, source)  # type: ignore[arg-type]
    assert source.asked == [["big-outputs-0", "big-outputs-1"]]
    assert filled["status"]["nodes"]["a"]["output"] == "x" * 120
    assert filled["status"]["nodes"]["b"]["output"] == "kept"
