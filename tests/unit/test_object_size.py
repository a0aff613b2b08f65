"""Object size as etcd sees it (managedFields included), the progress interval it sets, Event byte cuts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchyard.k8s.prepare import check_size
from switchyard.logic.dag import Dag
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.limits import (
    EVENT_MESSAGE_BYTES,
    MAX_OBJECT_BYTES,
    MAX_PROGRESS_INTERVAL,
    MIN_PROGRESS_INTERVAL,
    WRITE_BUDGET_BYTES_PER_SECOND,
    cut_utf8,
    fields_v1_size,
    json_size,
    progress_interval,
)
from switchyard.models.workflow import NodeSpec
from switchyard.sandbox import managedfields


def test_fields_v1_size_bounds_what_the_api_server_records() -> None:
    status = {"nodes": {f"work-{i}": {"phase": "Succeeded", "attempts": 1, "finishedAt": "x"} for i in range(500)}}
    body = {"metadata": {"name": "wf"}, "status": status}
    managedfields.update(None, body, managedfields.Writer("op"), "v1", "t", is_map=lambda p: p[-1:] == ("f:nodes",))
    recorded = len(json.dumps(body["metadata"]["managedFields"][0]["fieldsV1"], separators=(",", ":")))
    estimate = fields_v1_size(status) + len('{"f:status":}')
    assert recorded <= estimate <= recorded * 1.1  # an upper bound, and a close one
    spec = {"nodes": [{"name": f"n{i}", "component": "c", "dependsOn": ["a"]} for i in range(100)]}
    assert fields_v1_size(spec) > len(json.dumps([n["name"] for n in spec["nodes"]]))


def test_progress_interval_grows_with_the_object_within_bounds() -> None:
    assert progress_interval(10_000) == MIN_PROGRESS_INTERVAL
    assert progress_interval(1_500_000) == 1_500_000 / WRITE_BUDGET_BYTES_PER_SECOND
    assert progress_interval(10**9) == MAX_PROGRESS_INTERVAL
    sizes = [10_000, 200_000, 500_000, 1_000_000, 1_572_864]
    intervals = [progress_interval(s) for s in sizes]
    assert intervals == sorted(intervals) and intervals[-1] > intervals[0]
    for size, interval in zip(sizes, intervals, strict=True):  # the write budget holds for any size
        assert size / interval <= WRITE_BUDGET_BYTES_PER_SECOND or interval == MIN_PROGRESS_INTERVAL


def test_cut_utf8_counts_bytes_and_never_splits_a_character() -> None:
    assert cut_utf8("short", EVENT_MESSAGE_BYTES) == "short"
    text = "é" * 1000  # 1,000 characters, 2,000 bytes
    cut = cut_utf8(text, EVENT_MESSAGE_BYTES)
    assert len(cut.encode()) <= EVENT_MESSAGE_BYTES and cut.endswith("...")
    assert cut[:-3] == "é" * len(cut[:-3])  # whole characters only
    emoji = cut_utf8("🙂" * 400, EVENT_MESSAGE_BYTES)  # 4 bytes each
    assert len(emoji.encode()) <= EVENT_MESSAGE_BYTES and len(emoji.encode()) > EVENT_MESSAGE_BYTES - 8


@given(st.text(max_size=1500))
def test_cut_utf8_fits_for_any_text(text: str) -> None:
    cut = cut_utf8(text, EVENT_MESSAGE_BYTES)
    assert len(cut.encode("utf-8", errors="replace")) <= EVENT_MESSAGE_BYTES
    assert cut == text or cut.endswith("...")


def _wide(n: int) -> tuple[dict[str, Any], dict[str, Any], Dag]:
    nodes = [{"name": f"work-{i}", "component": "c", "dependsOn": ["root"] if i else []} for i in range(n)]
    nodes[0]["name"] = "root"
    body: dict[str, Any] = {"metadata": {"name": "wf", "namespace": "ns"}, "spec": {"nodes": nodes}}
    patch = {"phase": "Running", "progress": f"0/{n}", "outputs": ["wf-outputs-0"]}
    return body, patch, Dag.build([NodeSpec.model_validate(x) for x in nodes])


def test_the_size_budget_counts_metadata_and_managed_fields() -> None:
    """4,000 nodes fit as values; the managedFields a creator's kubectl adds (every spec field named again)
    and those of the status push the worst case over etcd's limit: refused before any Job, saying why."""
    body, patch, dag = _wide(4000)
    check_size(body, patch, dag, compact=True)  # no managedFields (an in-process create)
    managedfields.update(None, body, managedfields.Writer("kubectl-create"), "v1", "t", list_keys=lambda p: ("name",))
    assert json_size(body["metadata"]["managedFields"]) > 250_000
    with pytest.raises(InvalidSpec) as refused:
        check_size(body, patch, dag, compact=True)
    assert refused.value.reason == "TooLarge"
    assert "managedFields" in refused.value.message and str(MAX_OBJECT_BYTES) in refused.value.message
