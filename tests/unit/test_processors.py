"""Unit tests for the built-in processors: in-process via `run`, and once as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import switchyard.processors
from switchyard.processors import PROCESSORS, run
from switchyard.processors.__main__ import main
from switchyard.processors.contract import Result
from switchyard.processors.output import MAX_RESULT_BYTES, render_result

ENV = {"SWITCHYARD_WORKFLOW": "wf", "SWITCHYARD_NODE": "n1", "SWITCHYARD_ATTEMPT": "2"}


def make_root(
    tmp_path: Path,
    input_data: str | bytes | None = None,
    config: Any = None,
    upstream: dict[str, str] | None = None,
) -> Path:
    root = tmp_path / "switchyard"
    root.mkdir()
    if isinstance(input_data, str):
        (root / "input").write_text(input_data, encoding="utf-8")
    elif isinstance(input_data, bytes):
        (root / "input").write_bytes(input_data)
    if config is not None:
        (root / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if upstream is not None:
        (root / "upstream").mkdir()
        for name, text in upstream.items():
            (root / "upstream" / name).write_text(text)
    return root


def run_in(tmp_path: Path, name: str, input_data: str | bytes | None = None, **kwargs: Any) -> tuple[int, Result]:
    return run(name, make_root(tmp_path, input_data, **kwargs), env=ENV)


def assert_fits(result: Result) -> Result:
    text = render_result(result)
    assert len(text.encode("utf-8")) <= MAX_RESULT_BYTES
    parsed: Result = json.loads(text)
    return parsed


# --- common contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_every_result_names_processor_and_node(tmp_path: Path, name: str) -> None:
    code, result = run_in(tmp_path, name, "[1, 2]")
    assert code == 0, result
    assert result["processor"] == name
    assert result["node"] == "n1"
    assert result["workflow"] == "wf"
    assert result["attempt"] == 2


def test_absent_input_and_config_mean_empty(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "chunking-processor")
    assert code == 0
    assert result["chunkCount"] == 0
    assert result["chunkSize"] == 1000


def test_empty_config_file_means_no_config(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "chunking-processor", "abc", config="  \n")
    assert code == 0
    assert result["chunkSize"] == 1000


@pytest.mark.parametrize("config", ["{not json", "[1, 2]"])
def test_bad_config_is_an_error(tmp_path: Path, config: str) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "1", config=config)
    assert code == 1
    assert "config.json" in str(result["error"])


def test_run_rejects_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid names: json-processor"):
        run("nope", tmp_path)


# --- json-processor ----------------------------------------------------------------------------------


def test_json_processor_reports_object_shape(tmp_path: Path) -> None:
    document = {"b": [1, 2, {"c": None}], "a": "x", "d": {"e": {"f": True}}}
    code, result = run_in(tmp_path, "json-processor", json.dumps(document))
    assert code == 0
    assert result["type"] == "object"
    assert result["keys"] == ["a", "b", "d"]
    assert result["keyCount"] == 3
    assert result["keysTruncated"] is False
    assert result["depth"] == 3
    assert result["leaves"] == 5
    assert "selected" not in result


@pytest.mark.parametrize(
    ("text", "kind", "length", "depth", "leaves"),
    [("[1, [2, 3], []]", "array", 3, 2, 3), ('"hello"', "string", 5, 0, 1), ("42", "number", None, 0, 1)],
)
def test_json_processor_non_objects(
    tmp_path: Path, text: str, kind: str, length: int | None, depth: int, leaves: int
) -> None:
    code, result = run_in(tmp_path, "json-processor", text)
    assert code == 0
    assert (result["type"], result.get("length"), result["depth"], result["leaves"]) == (
        kind,
        length,
        depth,
        leaves,
    )


def test_json_processor_selects_fields(tmp_path: Path) -> None:
    document = {"id": 7, "name": "x" * 500, "tags": list(range(100)), "other": 1}
    code, result = run_in(
        tmp_path, "json-processor", json.dumps(document), config={"fields": ["id", "name", "tags", "gone"]}
    )
    assert code == 0
    selected = result["selected"]
    assert isinstance(selected, dict)
    assert selected["id"] == 7
    assert isinstance(selected["name"], str) and len(selected["name"]) == 200
    assert selected["tags"] == list(range(10))
    assert result["missing"] == ["gone"]
    assert result["selectedTruncated"] is True


def test_json_processor_caps_keys(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "json-processor", json.dumps({f"k{i:04}": i for i in range(500)}))
    assert code == 0
    assert result["keyCount"] == 500
    assert result["keys"] == [f"k{i:04}" for i in range(50)]
    assert result["keysTruncated"] is True


@pytest.mark.parametrize("text", ["not json", "", "   ", "{'a': 1}", "[NaN]", "[1,"])
def test_json_processor_rejects_non_json(tmp_path: Path, text: str) -> None:
    code, result = run_in(tmp_path, "json-processor", text)
    assert code == 1
    assert result["processor"] == "json-processor"
    assert "JSON" in str(result["error"]) or "empty" in str(result["error"])


def test_json_processor_survives_absurd_nesting(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "json-processor", "[" * 200_000 + "]" * 200_000)
    assert code == 1
    assert "nested too deeply" in str(result["error"])


def test_json_processor_rejects_non_list_fields(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "json-processor", "{}", config={"fields": "id"})
    assert code == 1
    assert "config.fields" in str(result["error"])


def test_json_processor_huge_input_fits_termination_log(tmp_path: Path) -> None:
    document = {("key-" + "é" * 300 + str(i)): ["v" * 1000] * 20 for i in range(2000)}
    fields = list(document)[:100]
    code, result = run_in(tmp_path, "json-processor", json.dumps(document), config={"fields": fields})
    assert code == 0
    parsed = assert_fits(result)
    assert parsed["truncated"] is True
    assert parsed["processor"] == "json-processor"
    assert parsed["keyCount"] == 2000


# --- chunking-processor ------------------------------------------------------------------------------


def test_chunking_processor_splits_and_hashes(tmp_path: Path) -> None:
    text = "abcdefghij" + "é"
    code, result = run_in(tmp_path, "chunking-processor", text, config={"chunkSize": 4})
    assert code == 0
    assert result["chunkCount"] == 3
    assert result["totalBytes"] == 12
    assert result["totalChars"] == 11
    pieces = ["abcd", "efgh", "ij" + "é"]
    assert result["chunks"] == [
        {
            "index": i,
            "file": f"chunk-{i:05d}",
            "chars": len(piece),
            "bytes": len(piece.encode()),
            "sha256": hashlib.sha256(piece.encode()).hexdigest()[:12],
        }
        for i, piece in enumerate(pieces)
    ]
    assert result["chunksTruncated"] is False


@pytest.mark.parametrize("size", [0, -3, "10", True, 1.5])
def test_chunking_processor_rejects_bad_chunk_size(tmp_path: Path, size: Any) -> None:
    code, result = run_in(tmp_path, "chunking-processor", "abc", config={"chunkSize": size})
    assert code == 1
    assert "config.chunkSize" in str(result["error"])


def test_chunking_processor_huge_input_fits(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "chunking-processor", "x" * 2_000_000, config={"chunkSize": 1})
    assert code == 0
    assert result["chunkCount"] == 2_000_000
    assert result["chunksTruncated"] is True
    chunks = assert_fits(result)["chunks"]
    assert isinstance(chunks, list) and 0 < len(chunks) <= 20


# --- numeric-processor -------------------------------------------------------------------------------


def test_numeric_processor_statistics(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "temps: -3, 4.5 and +10; x=-.5 done.")
    assert code == 0
    assert result["count"] == 4
    assert result["sum"] == 11.0
    assert result["min"] == -3
    assert result["max"] == 10
    assert result["mean"] == 2.75


def test_numeric_processor_integers_stay_exact(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", '{"a": 1, "b": [2, 3]}')
    assert code == 0
    assert (result["count"], result["sum"], result["min"], result["max"]) == (3, 6, 1, 3)
    assert result["mean"] == 2.0


def test_numeric_processor_rounds_to_six_places(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "1 1 2")
    assert code == 0
    assert result["mean"] == 1.333333


def test_numeric_processor_hyphens_are_not_signs(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "2024-01-05 item-7 1.2.3")
    assert code == 0
    assert result["count"] == 5
    assert result["min"] == 1
    assert result["sum"] == pytest.approx(2024 + 1 + 5 + 7 + 1.2)


@pytest.mark.parametrize("text", ["", "no digits here"])
def test_numeric_processor_empty(tmp_path: Path, text: str) -> None:
    code, result = run_in(tmp_path, "numeric-processor", text)
    assert code == 0
    assert result["count"] == 0
    assert result["sum"] is None and result["min"] is None and result["max"] is None
    assert result["mean"] is None


def test_numeric_processor_enormous_numbers(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "1" * 5000 + " 12345678901234567890 7")
    assert code == 0
    assert result["count"] == 2
    assert result["ignored"] == 1
    assert result["max"] == pytest.approx(1.2345678901234567e19)
    assert_fits(result)


def test_numeric_processor_huge_input(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "numeric-processor", "1 2.5 -3\n" * 100_000)
    assert code == 0
    assert result["count"] == 300_000
    assert result["sum"] == 50_000.0
    assert_fits(result)


# --- data-validator ----------------------------------------------------------------------------------


def test_data_validator_passes(tmp_path: Path) -> None:
    upstream = {"b": '{"processor": "json-processor"}', "a": "[1, 2]"}
    code, result = run_in(tmp_path, "data-validator", '{"ok": 1}', upstream=upstream)
    assert code == 0, result
    assert result["valid"] is True
    assert result["upstream"] == ["a", "b"]
    assert result["checks"] == ["input-utf8", "input-non-empty", "input-json", "upstream:a", "upstream:b"]


def test_data_validator_plain_text_is_not_parsed(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "data-validator", "just text")
    assert code == 0
    assert "input-json" not in result["checks"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("input_data", "config", "upstream", "failed"),
    [
        ("", None, None, ["input-non-empty"]),
        (None, None, None, ["input-non-empty"]),
        ("abcdef", {"maxBytes": 3}, None, ["input-max-bytes"]),
        ("{broken", None, None, ["input-json"]),
        ("plain", {"requireJson": True}, None, ["input-json"]),
        (b"\xff\xfe", None, None, ["input-utf8"]),
        ("x", None, {"up": '{"error": "boom"}'}, ["upstream:up"]),
        ("x", None, {"up": "not json", "ok": "{}"}, ["upstream:up"]),
        ("x", None, {"up": ""}, ["upstream:up"]),
    ],
)
def test_data_validator_failures(
    tmp_path: Path,
    input_data: str | bytes | None,
    config: Any,
    upstream: dict[str, str] | None,
    failed: list[str],
) -> None:
    code, result = run_in(tmp_path, "data-validator", input_data, config=config, upstream=upstream)
    assert code == 1
    assert result["valid"] is False
    assert result["failed"] == failed
    assert str(result["error"]).startswith("validation failed")


def test_data_validator_error_names_upstream_problem(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "data-validator", "x", upstream={"up": '{"error": "boom"}'})
    assert code == 1
    assert "upstream up: reported an error: boom" in str(result["error"])


def test_data_validator_allow_empty(tmp_path: Path) -> None:
    code, result = run_in(tmp_path, "data-validator", "", config={"allowEmpty": True})
    assert code == 0
    assert result["valid"] is True


def test_data_validator_many_failures_fit(tmp_path: Path) -> None:
    upstream = {f"node-{i:04}-{'x' * 40}": '{"error": "' + "e" * 300 + '"}' for i in range(300)}
    code, result = run_in(tmp_path, "data-validator", "x", upstream=upstream)
    assert code == 1
    parsed = assert_fits(result)
    assert str(parsed["error"]).startswith("validation failed (300 of 302 checks)")


# --- output capping ----------------------------------------------------------------------------------


def test_render_result_keeps_small_results_untouched() -> None:
    result: Result = {"processor": "p", "node": "n", "value": [1, 2, 3]}
    assert render_result(result) == '{"processor":"p","node":"n","value":[1,2,3]}'


def test_render_result_shrinks_everything_oversized() -> None:
    result: Result = {
        "processor": "p",
        "node": "ü" * 5000,
        "nested": {f"k{i}": ["€" * 100] * 50 for i in range(100)},
        "items": list(range(10_000)),
    }
    parsed = assert_fits(result)
    assert parsed["processor"] == "p"
    assert parsed["truncated"] is True
    assert set(parsed) == {"processor", "node", "nested", "items", "truncated"}


# --- command line ------------------------------------------------------------------------------------


def test_main_unknown_name_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "termination-log"
    monkeypatch.setenv("SWITCHYARD_TERMINATION_LOG", str(log))
    assert main(["csv-processor"]) == 2
    err = capsys.readouterr().err
    assert "unknown processor 'csv-processor'" in err
    for name in PROCESSORS:
        assert name in err
    assert "valid names" in json.loads(log.read_text())["error"]


def test_subprocess_json_processor(tmp_path: Path) -> None:
    root = make_root(tmp_path, json.dumps({"z": [1, 2], "a": {"b": "c"}}), config={"fields": ["a"]})
    log = tmp_path / "termination-log"
    package_parent = Path(switchyard.processors.__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(package_parent),
        "SWITCHYARD_ROOT": str(root),
        "SWITCHYARD_TERMINATION_LOG": str(log),
        "SWITCHYARD_WORKFLOW": "wf",
        "SWITCHYARD_NODE": "parse",
        "SWITCHYARD_ATTEMPT": "0",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "switchyard.processors", "json-processor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    written = log.read_text(encoding="utf-8")
    assert completed.stdout.strip() == written
    result = json.loads(written)
    assert result["processor"] == "json-processor"
    assert result["node"] == "parse"
    assert result["attempt"] == 0
    assert result["keys"] == ["a", "z"]
    assert result["selected"] == {"a": {"b": "c"}}


def test_subprocess_bad_input_exits_1(tmp_path: Path) -> None:
    root = make_root(tmp_path, "definitely not json")
    log = tmp_path / "termination-log"
    package_parent = Path(switchyard.processors.__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(package_parent),
        "SWITCHYARD_ROOT": str(root),
        "SWITCHYARD_TERMINATION_LOG": str(log),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "switchyard.processors", "json-processor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "not valid JSON" in json.loads(log.read_text())["error"]


def test_from_item_works_on_a_for_each_instance_item(tmp_path: Path) -> None:
    root = make_root(tmp_path, "1 2 3", config={"from": "item"})
    (root / "item").write_text("[10, 20]")
    code, result = run("numeric-processor", root, env=ENV)
    assert code == 0 and (result["count"], result["sum"]) == (2, 30)
    other = tmp_path / "other"
    other.mkdir()
    code, result = run("numeric-processor", make_root(other, "1", config={"from": "item"}), env=ENV)
    assert code == 1 and "not a forEach instance" in str(result["error"])
