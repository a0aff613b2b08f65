"""The built-in processors on files: outputs, upstream artifacts, streaming JSON, and a bounded peak RSS."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bench.processors_rss import processor_env, run_measured
from hypothesis import example, given, settings
from hypothesis import strategies as st

from switchyard.processors import jsonstream, numeric_processor, run, streams
from switchyard.processors.contract import ProcessorError, Result, load_context
from switchyard.processors.streams import Outputs

ENV = {"SWITCHYARD_WORKFLOW": "wf", "SWITCHYARD_NODE": "n1", "SWITCHYARD_ATTEMPT": "1"}
MIB = 1 << 20


def make_root(
    base: Path,
    input_data: str | bytes | None = None,
    config: Any = None,
    outputs: bool = True,
    upstream: dict[str, str | dict[str, str | bytes]] | None = None,
    results: dict[str, str] | None = None,
) -> Path:
    """A contract tree; an upstream value that is a dict becomes a directory of artifacts."""
    root = base / "switchyard"
    root.mkdir(parents=True)
    if input_data is not None:
        (root / "input").write_bytes(input_data.encode() if isinstance(input_data, str) else input_data)
    if config is not None:
        (root / "config.json").write_text(json.dumps(config))
    if outputs:
        (root / "outputs").mkdir()
    for node, value in (upstream or {}).items():
        path = root / "upstream" / node
        path.parent.mkdir(exist_ok=True)
        if isinstance(value, str):
            path.write_text(value)
            continue
        for name, data in value.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data.encode() if isinstance(data, str) else data)
    for node, text in (results or {}).items():
        (root / "upstream" / f"{node}.result.json").write_text(text)
    return root


def run_root(name: str, root: Path) -> tuple[int, Result]:
    return run(name, root, env=ENV)


def output_files(root: Path) -> dict[str, bytes]:
    base = root / "outputs"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


@contextmanager
def block_size(size: int) -> Iterator[None]:
    saved = streams.BLOCK_SIZE
    streams.BLOCK_SIZE = size
    try:
        yield
    finally:
        streams.BLOCK_SIZE = saved


# --- chunking-processor ------------------------------------------------------------------------------


def chars_oracle(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def lines_oracle(text: str, size: int) -> list[str]:
    """Whole lines while they fit in `size` characters; a longer line is cut at `size`."""
    chunks: list[str] = []
    current = ""
    for line in re.findall(r"[^\n]*\n|[^\n]+$", text):
        while line:
            if len(current) + len(line) <= size:
                current, line = current + line, ""
            elif current:
                chunks.append(current)
                current = ""
            else:
                chunks.append(line[:size])
                line = line[size:]
    if current:
        chunks.append(current)
    return chunks


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet="ab\né€\U0001f600", max_size=60),
    size=st.integers(1, 9),
    block=st.integers(1, 11),
    lines=st.booleans(),
)
def test_chunking_writes_the_chunks_an_oracle_gives(text: str, size: int, block: int, lines: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, block_size(block):
        root = make_root(Path(tmp), text, config={"chunkSize": size, "lines": lines})
        code, result = run_root("chunking-processor", root)
        assert code == 0, result
        expected = (lines_oracle if lines else chars_oracle)(text, size)
        files = output_files(root)
        assert list(files) == [f"chunk-{i:05d}" for i in range(len(expected))]
        assert [data.decode() for data in files.values()] == expected
        assert result["chunkCount"] == len(expected)
        assert result["totalChars"] == len(text)
        assert result["totalBytes"] == len(text.encode())
        chunks = result["chunks"]
        assert isinstance(chunks, list)
        assert [(c["chars"], c["sha256"]) for c in chunks if isinstance(c, dict)] == [
            (len(c), hashlib.sha256(c.encode()).hexdigest()[:12]) for c in expected[:20]
        ]


def test_chunking_keeps_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    data = b"ab\xff\xfe" + "é".encode() + b"\x80cd" * 5
    with block_size(3):
        root = make_root(tmp_path, data, config={"chunkSize": 2})
        code, result = run_root("chunking-processor", root)
    assert code == 0
    assert b"".join(output_files(root).values()) == data
    assert result["totalBytes"] == len(data)


def test_chunking_lists_digests_of_its_output_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, "x" * 25, config={"chunkSize": 10})
    code, result = run_root("chunking-processor", root)
    assert code == 0
    outputs = result["outputs"]
    assert isinstance(outputs, dict)
    assert outputs["count"] == 3 and outputs["bytes"] == 25 and outputs["written"] is True
    assert outputs["files"] == [
        {"name": f"chunk-{i:05d}", "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for i, d in enumerate([b"x" * 10, b"x" * 10, b"x" * 5])
    ]


def test_chunking_without_outputs_dir_writes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path, "abcdef", config={"chunkSize": 4}, outputs=False)
    code, result = run_root("chunking-processor", root)
    assert code == 0
    assert result["chunkCount"] == 2
    assert "outputs" not in result
    assert sorted(p.name for p in root.iterdir()) == ["config.json", "input"]


def test_chunking_refuses_more_chunks_than_max(tmp_path: Path) -> None:
    root = make_root(tmp_path, "x" * 50, config={"chunkSize": 10, "maxChunks": 4})
    code, result = run_root("chunking-processor", root)
    assert code == 1
    assert "more than 4 chunks" in str(result["error"])
    assert "config.chunkSize" in str(result["error"])


def test_chunking_empty_input_writes_no_chunk(tmp_path: Path) -> None:
    root = make_root(tmp_path, "", config={"chunkSize": 4})
    code, result = run_root("chunking-processor", root)
    assert code == 0
    assert result["chunkCount"] == 0
    assert output_files(root) == {}


def test_chunking_reads_upstream_artifacts_instead_of_input(tmp_path: Path) -> None:
    upstream: dict[str, str | dict[str, str | bytes]] = {"b": {"z/part": "12345"}, "a": {"one": "abc"}}
    root = make_root(tmp_path, "ignored input", config={"chunkSize": 4}, upstream=upstream)
    code, result = run_root("chunking-processor", root)
    assert code == 0
    assert result["sources"] == 2
    # a/one first, then b/z/part; a chunk never spans two sources
    assert list(output_files(root).values()) == [b"abc", b"1234", b"5"]


def test_config_from_input_ignores_upstream_artifacts(tmp_path: Path) -> None:
    root = make_root(tmp_path, "7 8", config={"from": "input"}, upstream={"a": {"x": "100"}})
    code, result = run_root("numeric-processor", root)
    assert code == 0
    assert result["sum"] == 15


def test_config_from_must_be_known(tmp_path: Path) -> None:
    root = make_root(tmp_path, "7", config={"from": "elsewhere"})
    code, result = run_root("numeric-processor", root)
    assert code == 1
    assert "config.from" in str(result["error"])


# --- upstream layout ---------------------------------------------------------------------------------


def test_upstream_file_is_a_result_and_directory_holds_artifacts(tmp_path: Path) -> None:
    upstream: dict[str, str | dict[str, str | bytes]] = {
        "old": '{"processor": "x"}',
        "new": {"chunk-00000": "a", "deep/er/f.csv": "b,c", "..data/hidden": "kubelet"},
    }
    root = make_root(tmp_path, upstream=upstream, results={"new": '{"ok": true}'})
    ctx = load_context(root, ENV)
    assert list(ctx.upstream) == ["new", "old"]
    assert ctx.upstream["old"].result == '{"processor": "x"}'
    assert ctx.upstream["old"].artifacts == ()
    assert ctx.upstream["new"].result == '{"ok": true}'
    assert [(a.name, a.size) for a in ctx.upstream["new"].artifacts] == [
        ("new/chunk-00000", 1),
        ("new/deep/er/f.csv", 3),
    ]


def test_outputs_accept_nested_names_and_refuse_escapes(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with Outputs(tmp_path / "out") as outputs:
        nested = outputs.open("a/b/c.txt")
        nested.write(b"hello")
        outputs.close(nested)
        with pytest.raises(ProcessorError, match="leaves the outputs directory"):
            outputs.open("../escape")
    assert (tmp_path / "out" / "a" / "b" / "c.txt").read_bytes() == b"hello"
    assert not (tmp_path / "escape").exists()
    assert outputs.summary()["count"] == 1


# --- numeric-processor -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(["12", "-3.5", " ", "\n", ",", "a", "e5", ".", "+", "-", "1e3", '"', "é", "7"]), max_size=40
    ),
    block=st.integers(1, 7),
)
# found by hypothesis: 1e31 and -1e31 in two blocks, 3.5 between them, lost in a float total rounded per block
@example(parts=["1e3", "1e3", "-3.5", " ", "-", "1e3", "1e3", " "], block=1)
def test_numeric_streaming_finds_what_the_whole_text_holds(parts: list[str], block: int) -> None:
    text = "".join(parts)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_root(Path(tmp), text)
        _, whole = run_root("numeric-processor", root)
        with block_size(block):
            _, streamed = run_root("numeric-processor", root)
    assert streamed == whole


PLAIN_NUMBER = re.compile(r"(?:(?<![\w.])[-+])?(?<![\d.])(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet="0123456789.eE+-a_ ,\n\u0663é", max_size=30))
def test_number_patterns_match_the_plain_form(text: str) -> None:
    assert numeric_processor.NUMBER.findall(text) == PLAIN_NUMBER.findall(text)
    if text.isascii():
        found = [token.decode() for token in numeric_processor.NUMBER_ASCII.findall(text.encode())]
        assert found == PLAIN_NUMBER.findall(text)


def test_numeric_sums_upstream_artifacts(tmp_path: Path) -> None:
    upstream: dict[str, str | dict[str, str | bytes]] = {"a": {"x": "1 2"}, "b": {"y/z": "3\n4.5"}}
    root = make_root(tmp_path, "999", upstream=upstream)
    code, result = run_root("numeric-processor", root)
    assert code == 0
    assert (result["count"], result["sum"], result["sources"], result["totalBytes"]) == (4, 10.5, 2, 8)


# --- json-processor ----------------------------------------------------------------------------------


def test_json_lines_become_records(tmp_path: Path) -> None:
    text = '{"id": 1, "x": [1, 2]}\n\n{"id": 2, "name": "é"}\n[3]\n'
    root = make_root(tmp_path, text, config={"fields": ["id", "name"]})
    code, result = run_root("json-processor", root)
    assert code == 0, result
    assert result["format"] == "jsonl"
    assert result["records"] == 3
    assert result["types"] == {"object": 2, "array": 1}
    assert result["keys"] == ["id", "name", "x"]
    assert result["fieldCounts"] == {"id": 2, "name": 1}
    assert result["missing"] == []
    records = output_files(root)["records.jsonl"].decode().splitlines()
    assert [json.loads(line) for line in records] == [{"id": 1}, {"id": 2, "name": "é"}, [3]]


def test_malformed_json_lines_name_the_line(tmp_path: Path) -> None:
    root = make_root(tmp_path, '{"a": 1}\n{"a": 2}\n{"a": \n')
    code, result = run_root("json-processor", root)
    assert code == 1
    assert str(result["error"]).startswith("input: line 3 is not valid JSON")


def test_json_lines_over_max_line_bytes_fail(tmp_path: Path) -> None:
    root = make_root(tmp_path, '{"a": 1}\n{"a": "' + "x" * 100 + '"}\n', config={"maxLineBytes": 50})
    code, result = run_root("json-processor", root)
    assert code == 1
    assert "line 2 is longer than 50 bytes" in str(result["error"])


def test_json_array_document_items_become_records(tmp_path: Path) -> None:
    root = make_root(tmp_path, '[{"id": 1, "v": 2}, {"id": 2}, 5]', config={"fields": ["id"]})
    code, result = run_root("json-processor", root)
    assert code == 0
    assert (result["format"], result["type"], result["length"], result["records"]) == ("json", "array", 3, 3)
    assert output_files(root)["records.jsonl"] == b'{"id":1}\n{"id":2}\n5\n'


def test_json_object_document_is_one_record(tmp_path: Path) -> None:
    root = make_root(tmp_path, '{"b": [1], "a": {"c": null}}', config={"fields": ["a", "zz"]})
    code, result = run_root("json-processor", root)
    assert code == 0
    assert result["selected"] == {"a": {"c": None}}
    assert result["missing"] == ["zz"]
    assert output_files(root)["records.jsonl"] == b'{"a":{"c":null}}\n'


DOCUMENTS = [
    '{"b": [1, 2, {"c": null}], "a": "x", "d": {"e": {"f": true}}}',
    '[1, [2, 3], [], {"k": [4]}]',
    '"hello"',
    "42",
    '{"k": "' + "v" * 500 + '", "n": [' + ",".join(str(i) for i in range(50)) + "]}",
    "[]",
    "{}",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_streamed_document_reads_as_the_loaded_one(tmp_path: Path, document: str, monkeypatch: Any) -> None:
    config = {"fields": ["a", "b", "k", "n"]}
    loaded_root = make_root(tmp_path / "loaded", document, config=config)
    _, loaded = run_root("json-processor", loaded_root)
    monkeypatch.setattr(jsonstream, "IN_MEMORY_LIMIT", 0)
    streamed_root = make_root(tmp_path / "streamed", document, config=config)
    _, streamed = run_root("json-processor", streamed_root)
    assert streamed == loaded
    assert output_files(streamed_root) == output_files(loaded_root)


@pytest.mark.parametrize("text", ["[1,", "[1] x", "[NaN]", "{'a': 1}", "   "])
def test_streamed_document_errors(tmp_path: Path, text: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(jsonstream, "IN_MEMORY_LIMIT", 0)
    code, result = run_root("json-processor", make_root(tmp_path, text))
    assert code == 1
    assert "not valid JSON" in str(result["error"]) or "empty" in str(result["error"])


def test_streamed_document_bounds_nesting(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(jsonstream, "IN_MEMORY_LIMIT", 0)
    code, result = run_root("json-processor", make_root(tmp_path, "[" * 200_000 + "]" * 200_000))
    assert code == 1
    assert "nested too deeply" in str(result["error"])


def test_json_processor_empty_input_fails(tmp_path: Path) -> None:
    code, result = run_root("json-processor", make_root(tmp_path, ""))
    assert code == 1
    assert "empty" in str(result["error"])


def test_json_processor_parses_upstream_chunks(tmp_path: Path) -> None:
    upstream: dict[str, str | dict[str, str | bytes]] = {
        "chunk": {"chunk-00000": '{"n": 1}\n{"n": 2}\n', "chunk-00001": '{"n": 3}\n'}
    }
    root = make_root(tmp_path, upstream=upstream, config={"format": "jsonl"})
    code, result = run_root("json-processor", root)
    assert code == 0, result
    assert (result["records"], result["sources"]) == (3, 2)
    assert output_files(root)["records.jsonl"] == b'{"n":1}\n{"n":2}\n{"n":3}\n'


# --- data-validator ----------------------------------------------------------------------------------


def test_validator_accepts_json_lines_input(tmp_path: Path) -> None:
    code, result = run_root("data-validator", make_root(tmp_path, '{"a": 1}\n{"a": 2}\n'))
    assert code == 0, result
    assert "input-json" in result["checks"]  # type: ignore[operator]


def test_validator_checks_artifacts_and_results(tmp_path: Path) -> None:
    upstream: dict[str, str | dict[str, str | bytes]] = {
        "good": {"records.jsonl": '{"a": 1}\n'},
        "bad": {"part/x.json": '{"a": '},
        "binary": {"blob": b"\x00\x01"},
    }
    root = make_root(tmp_path, "x", upstream=upstream, results={"good": '{"error": "boom"}'})
    code, result = run_root("data-validator", root)
    assert code == 1
    assert result["failed"] == ["artifact:bad/part/x.json", "upstream:good"]
    assert result["artifacts"] == {"count": 3, "bytes": 9 + 6 + 2}


def test_validator_finds_bad_utf8_past_the_first_block(tmp_path: Path) -> None:
    with block_size(4):
        code, result = run_root("data-validator", make_root(tmp_path, b"abcdefgh\xffij"))
    assert code == 1
    assert result["failed"] == ["input-utf8"]


# --- as the Job runs them ----------------------------------------------------------------------------


def run_subprocess(name: str, root: Path, log: Path) -> tuple[int, Result, int]:
    """(exit code, termination message, peak RSS in bytes) of `python -m switchyard.processors name`."""
    code, peak, _ = run_measured([sys.executable, "-m", "switchyard.processors", name], processor_env(root, log))
    return code, json.loads(log.read_text()), peak


def test_subprocess_malformed_json_lines_exits_1(tmp_path: Path) -> None:
    root = make_root(tmp_path, '{"a": 1}\nnot json\n', config={"format": "jsonl"})
    code, result, _ = run_subprocess("json-processor", root, tmp_path / "log")
    assert code == 1
    assert "line 2 is not valid JSON" in str(result["error"])


STREAM_MIB = 96


@pytest.fixture(scope="module")
def large_input(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("large") / "input.jsonl"
    line = json.dumps({"id": 12345, "amount": 17.25, "note": "n" * 200, "tags": ["a", "b"]}) + "\n"
    block = line * (MIB // len(line) + 1)
    with path.open("w") as handle:
        for _ in range(STREAM_MIB):
            handle.write(block)
    yield path
    path.unlink()


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("chunking-processor", {"chunkSize": 16 * MIB, "lines": True}),
        ("json-processor", {}),
        ("numeric-processor", {}),
        ("data-validator", {"requireJson": True}),
    ],
)
def test_processors_stream_a_large_input(tmp_path: Path, large_input: Path, name: str, config: Any) -> None:
    root = make_root(tmp_path, config=config)
    os.link(large_input, root / "input")
    code, result, peak = run_subprocess(name, root, tmp_path / "log")
    assert code == 0, result
    size = large_input.stat().st_size
    # Well below the input: the interpreter with its imports is ~20 MiB, and nothing grows with the input.
    assert peak < 48 * MIB < size / 2, f"peak RSS {peak / MIB:.1f} MiB on {size / MIB:.0f} MiB"
    written = sum(len(data) for data in output_files(root).values())
    if name == "chunking-processor":
        assert written == size


def test_json_lines_with_lone_surrogate_escapes_are_written_back(tmp_path: Path) -> None:
    root = make_root(tmp_path, '{"a": "\\ud800x", "big": 123456789012345678901234567890}\n{"b": 1e16}\n')
    code, result = run_root("json-processor", root)
    assert code == 0, result
    lines = output_files(root)["records.jsonl"].decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"a": "\ud800x", "big": 123456789012345678901234567890},
        {"b": 1e16},
    ]
