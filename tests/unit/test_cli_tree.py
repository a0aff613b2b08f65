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
                    "output": '{"processor":"chunking-processor","node":"chunk","workflow":"diamond","attempt":2,'
                    '"chunkSize":16,"chunkCount":3}',
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
                    # a preview: the status keeps 120 characters, cut mid-document
                    "output": '{"processor":"numeric-processor","node":"numbers","workflow":"diamond","attempt":1,'
                    '"count":4,"sum":94,"min":12,"m…',
                },
                "validate": {
                    "phase": "Failed",
                    "attempts": 3,
                    "job": "diamond-validate-3-c0ffee",
                    "startedAt": "2026-11-30T12:00:06Z",
                    "finishedAt": "2026-11-30T12:00:25Z",
                    "reason": "Error",
                    "message": '{"error":"validation failed (1 of 1 checks): input: not JSON","processor":'
                    '"data-validator","node":"validate","workflow":"diamond","attempt":3,"valid":false}',
                },
                "report": {"phase": "Skipped", "reason": "DependencyFailed", "message": "dependency 'validate' failed"},
            },
        },
    }


def render(obj: dict[str, Any], breakers: dict[str, str] | None = None, width: int = 170) -> str:
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


def test_tree_draws_each_node_under_what_it_waits_for() -> None:
    lines = render(diamond()).splitlines()
    start = lines.index("✖ diamond") + 1
    steps = [line[: lines[start - 2].index("PHASE")].rstrip() for line in lines[start:]]
    assert steps == [
        "└─✔ chunk",
        "  ├─⤷ parse",
        "  │ └─✖ validate (also after: numbers)",  # under its first dependency; the other one named, not redrawn
        "  │   └─○ report",
        "  └─✔ numbers",
    ]


def test_a_tree_too_deep_to_draw_is_listed_flat_naming_what_each_node_waits_for() -> None:
    chain = [{"name": "n0", "component": "p"}] + [
        {"name": f"n{i}", "component": "p", "dependsOn": [f"n{i - 1}"]} for i in range(1, tree.MAX_DEPTH + 2)
    ]
    obj = {"metadata": {"name": "deep", "namespace": "d"}, "spec": {"nodes": chain}, "status": {"phase": "Pending"}}
    lines = [line for line in render(obj).splitlines() if line.startswith(("├─", "└─"))]
    assert len(lines) == len(chain)
    assert lines[0].startswith("├─◷ n0  ") and lines[1].startswith("├─◷ n1 (after: n0)")
    assert lines[-1].startswith(f"└─◷ n{len(chain) - 1} (after: n{len(chain) - 2})")


def test_a_node_with_many_other_dependencies_names_a_few() -> None:
    nodes = [{"name": f"p{i}", "component": "p"} for i in range(6)]
    nodes.append({"name": "join", "component": "p", "dependsOn": [f"p{i}" for i in range(6)]})
    obj = {"metadata": {"name": "fan", "namespace": "d"}, "spec": {"nodes": nodes}, "status": {"phase": "Pending"}}
    assert "│ └─◷ join (also after: p1, p2, p3 +2)" in render(obj)


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
    assert "└─● numeric-processor" in text
    assert "  └─◷ data-validator" in text
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
    assert tree.node_message(by_name["validate"]) == "Error: validation failed (1 of 1 checks): input: not JSON"
    assert tree.node_message(by_name["parse"]) == "CircuitOpen; fallback json-lite"
    assert tree.node_message(by_name["chunk"]) == '{"chunkSize": 16, "chunkCount": 3}'
    assert tree.node_message(by_name["report"]) == "DependencyFailed: dependency 'validate' failed"


def test_message_shows_the_result_without_the_keys_every_processor_result_starts_with() -> None:
    head = '{"processor":"numeric-processor","node":"numbers","workflow":"diamond","attempt":1,'
    assert view.result_text(head + '"count":4,"sum":94}') == '{"count": 4, "sum": 94}'
    assert view.result_text(head + '"count":4,"su…') == '{"count":4,"su…', "a cut preview loses its head too"
    assert view.result_text('{"error":"input is empty","processor":"json-processor"}') == "input is empty"
    assert view.result_text('{"cached": true}') == '{"cached": true}', "a result of other keys is kept as it is"
    assert view.result_text("plain words") == "plain words"
    numbers = {node.name: node for node in view.build(diamond(), results={"numbers": head + '"count":4}'}).nodes}
    assert tree.node_message(numbers["numbers"]) == '{"count": 4}', "the whole output, when read, beats the preview"


def test_progress_says_how_many_nodes_failed_or_were_skipped() -> None:
    assert "Progress:   3/5 (1 failed, 1 skipped)\n" in render(diamond())
    done = diamond()
    done["status"].update(phase="Succeeded", progress="5/5")
    for node in done["status"]["nodes"].values():
        node.update(phase="Succeeded", reason=None, message=None)
    assert "Progress:   5/5\n" in render(done)


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


def fan_out() -> dict[str, Any]:
    """A running forEach node with three instances."""
    return {
        "metadata": {"name": "fan", "namespace": "team-a"},
        "spec": {
            "nodes": [
                {"name": "split", "component": "chunking-processor"},
                {"name": "map", "component": "p", "dependsOn": ["split"], "forEach": {"fromNode": "split"}},
            ]
        },
        "status": {
            "phase": "Running",
            "progress": "3/5",
            "nodes": {
                "split": {"phase": "Succeeded"},
                "map": {"phase": "Running", "progress": "1/3", "reason": "Expanded"},
                "map[0]": {"phase": "Succeeded"},
                "map[1]": {"phase": "Running"},
                "map[2]": {"phase": "Pending"},
            },
        },
    }


def test_a_for_each_node_is_collapsed_unless_expanded() -> None:
    lines = render(fan_out()).splitlines()
    assert lines[-1].startswith("  └─● map [1/3]  Running") and not any("map[0]" in line for line in lines)
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(tree.render(view.build(fan_out(), expand=True), NOW))
    lines = buffer.getvalue().splitlines()
    assert [line.split()[1] for line in lines if "map[" in line] == ["map[0]", "map[1]", "map[2]"]


def test_a_skipped_node_has_no_duration_whatever_the_reason() -> None:
    obj = {
        "metadata": {"name": "skips", "namespace": "default"},
        "spec": {
            "nodes": [
                {"name": "a", "component": "c"},
                {"name": "b", "component": "c", "dependsOn": ["a"], "when": "false"},
                {"name": "d", "component": "c", "dependsOn": ["a"]},
            ]
        },
        "status": {
            "phase": "Succeeded",
            "nodes": {
                "a": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"},
                "b": {
                    "phase": "Skipped",
                    "reason": "WhenFalse",
                    "startedAt": "2026-01-01T00:00:05Z",
                    "finishedAt": "2026-01-01T00:00:05Z",
                },
                "d": {"phase": "Skipped", "reason": "DependencyFailed"},
            },
        },
    }
    rows = {line.split()[1]: line for line in render(obj).splitlines() if "Skipped" in line or "Succeeded" in line}
    assert "5s" in rows["a"]
    for name in ("b", "d"):
        assert " 0s" not in rows[name] and "Skipped" in rows[name]
        assert rows[name].split("Skipped", 1)[1].split()[0] in ("WhenFalse", "DependencyFailed")  # DURATION blank
