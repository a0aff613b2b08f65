"""`route` and `graph` on a file of several documents: route each Workflow, draw the one named (or say which)."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from switchyard.cli.main import main

RULES = """\
apiVersion: switchyard.dev/v1alpha1
kind: RoutingRule
metadata: {name: digits}
spec: {when: input.hasDigits, path: [numeric-processor]}
"""
WORKFLOWS = """\
apiVersion: switchyard.dev/v1alpha1
kind: Workflow
metadata: {name: numbers}
spec: {input: {data: "1 2 3"}}
---
apiVersion: switchyard.dev/v1alpha1
kind: Workflow
metadata: {name: words}
spec: {input: {data: "hello"}}
---
apiVersion: switchyard.dev/v1alpha1
kind: Workflow
metadata: {name: given}
spec:
  input: {data: "x"}
  nodes:
    - {name: a, component: json-processor}
    - {name: b, component: data-validator, dependsOn: [a]}
"""


def files(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "wfs.yaml").write_text(textwrap.dedent(WORKFLOWS))
    return tmp_path / "wfs.yaml", tmp_path / "rules.yaml"


def test_route_explains_every_workflow_of_the_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflows, rules = files(tmp_path)
    assert main(["route", str(workflows), "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    sections = out.split("Workflow/")[1:]
    assert [section.split(":")[0] for section in sections] == ["numbers", "words", "given"]
    assert "Route: rule digits: numeric-processor" in sections[0]
    assert "Route: analysis: data-validator" in sections[1]


def test_route_on_an_explicit_workflow_says_only_that(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflows, rules = files(tmp_path)
    explicit = tmp_path / "given.yaml"
    explicit.write_text(textwrap.dedent(WORKFLOWS).split("---\n")[2])
    assert main(["route", str(explicit), "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "Workflow/given lists its nodes (a, b): it runs them as given and is not routed."
    assert main(["route", str(workflows), "--rules", str(rules)]) == 0
    given = capsys.readouterr().out.split("Workflow/given")[1]
    assert "RULE" not in given and "Route:" not in given and "is not routed" in given


def test_graph_draws_the_named_document_or_says_which_it_took(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflows, _ = files(tmp_path)
    target = tmp_path / "g.mmd"
    assert main(["graph", str(workflows), "-o", str(target), "--name", "given"]) == 0
    assert "n0 --> n1" in target.read_text()
    assert "wrote" in capsys.readouterr().out
    assert main(["graph", str(workflows), "-o", str(target)]) == 0
    captured = capsys.readouterr()
    note = " ".join(captured.err.split())
    assert "drew Workflow/given, the only one of 3 documents with nodes (others: numbers, words)" in note, note
    assert main(["graph", str(workflows), "-o", str(target), "--name", "nope"]) == 1
    assert "no Workflow or RoutingRule named 'nope' (in the file: numbers, words, given)" in capsys.readouterr().err
