"""`switchyard submit` and `list` without a cluster: the object submitted, the outcome line, the phase filter."""

from __future__ import annotations

import pytest

from switchyard.cli import listing, submit


def test_generate_name_turns_the_name_into_a_prefix_and_drops_server_fields() -> None:
    doc = {
        "kind": "Workflow",
        "metadata": {"name": "nightly", "labels": {"a": "b"}, "uid": "u", "resourceVersion": "7"},
        "spec": {"path": ["json-processor"]},
        "status": {"phase": "Succeeded"},
    }
    body = submit.workflow_body(doc, generate_name=True)
    assert body["metadata"] == {"labels": {"a": "b"}, "generateName": "nightly-"}
    assert "status" not in body and doc["metadata"]["name"] == "nightly", "the document itself is not changed"
    assert submit.workflow_body(doc, generate_name=False)["metadata"]["name"] == "nightly"


def test_the_outcome_line_has_the_phase_the_reason_and_the_message() -> None:
    failed = {
        "metadata": {"name": "w"},
        "status": {
            "phase": "Failed",
            "message": "1 node(s) failed: a",
            "conditions": [{"type": "Failed", "status": "True", "reason": "NodeFailed"}],
        },
    }
    assert submit.outcome(failed) == (False, "workflow w: Failed (NodeFailed): 1 node(s) failed: a")
    assert submit.outcome({"metadata": {"name": "w"}, "status": {"phase": "Succeeded"}}) == (
        True,
        "workflow w: Succeeded",
    )
    assert submit.outcome({"metadata": {"name": "w"}, "status": {"phase": "Invalid"}})[0] is False


def test_phases_are_matched_without_case_and_may_be_comma_separated() -> None:
    assert listing.phases_wanted(["failed,Running", "INVALID"]) == {"Failed", "Running", "Invalid"}
    assert listing.phases_wanted([]) == set()
    with pytest.raises(ValueError, match="unknown phase 'done'"):
        listing.phases_wanted(["done"])
