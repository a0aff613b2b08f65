"""`switchyard validate`: offline checks with messages naming file, document, object and field; exit codes."""

from __future__ import annotations

import pathlib
import textwrap

import pytest
import yaml

from switchyard.cli.main import main
from switchyard.cli.validate import validate

REPO = pathlib.Path(__file__).resolve().parents[2]


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def messages(*paths: pathlib.Path, components: tuple[pathlib.Path, ...] = ()) -> list[str]:
    return [str(problem) for problem in validate(list(paths), components).problems]


def test_the_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    examples = REPO / "manifests" / "examples"
    documents = sum(1 for path in examples.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc)
    assert main(["validate", str(examples)]) == 0
    assert f"{documents} objects valid" in capsys.readouterr().out


def test_schema_errors_name_file_document_object_and_field(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: unrelated}
        ---
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: Bad_Name}
        spec:
          parallelism: 0
          nodes:
            - {name: a, component: json-processor, dependson: [b]}
        """,
    )
    assert messages(path) == [
        f"{path}: doc 2: Workflow/Bad_Name: metadata.name: 'Bad_Name' is not a valid name "
        "(lowercase letters, digits, '-' and '.', at most 253)",
        f"{path}: doc 2: Workflow/Bad_Name: spec.nodes[0].dependson: unknown field (did you mean 'dependsOn'?)",
        f"{path}: doc 2: Workflow/Bad_Name: spec.parallelism: Input should be greater than or equal to 1",
    ]


def test_model_rules_are_reported_at_their_object(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Component
        metadata: {name: c}
        spec: {image: x, fallback: {}}
        """,
    )
    assert messages(path) == [
        f"{path}: doc 1: Component/c: spec.fallback: fallback needs exactly one of 'component' or 'output'"
    ]


def test_dag_problems_use_the_operators_messages(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "dag.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: cyc}
        spec:
          nodes:
            - {name: a, component: p, dependsOn: [c]}
            - {name: b, component: p, dependsOn: [a]}
            - {name: c, component: p, dependsOn: [b]}
        ---
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: lost}
        spec:
          nodes:
            - {name: a, component: p, dependsOn: [ghost]}
        """,
    )
    assert messages(path) == [
        f"{path}: doc 1: Workflow/cyc: spec.nodes: dependency cycle: a -> c -> b -> a",
        f"{path}: doc 2: Workflow/lost: spec.nodes: node 'a' depends on unknown node 'ghost'",
    ]


def test_unknown_components_are_checked_against_the_files_and_builtins(tmp_path: pathlib.Path) -> None:
    components = write(
        tmp_path,
        "components.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Component
        metadata: {name: mine}
        spec: {image: x}
        """,
    )
    workflow = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: w}
        spec:
          nodes:
            - {name: a, component: mine}
            - {name: b, component: json-processor, dependsOn: [a]}
            - {name: c, component: theirs, dependsOn: [a]}
        ---
        apiVersion: switchyard.dev/v1alpha1
        kind: RoutingRule
        metadata: {name: r}
        spec: {when: 'true', path: [mine, nope]}
        """,
    )
    assert messages(workflow, components=(components,)) == [
        f"{workflow}: doc 1: Workflow/w: spec.nodes[2].component: node 'c' uses unknown component 'theirs'",
        f"{workflow}: doc 2: RoutingRule/r: spec.path[1]: unknown component 'nope'",
    ]
    strict = validate([workflow], [components], builtins=False)
    assert any("uses unknown component 'json-processor'" in str(p) for p in strict.problems)


def test_without_components_in_the_files_the_builtins_and_the_cluster_count(tmp_path: pathlib.Path) -> None:
    workflow = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: w}
        spec:
          nodes:
            - {name: a, component: json-procesor}
            - {name: b, component: somewhere-in-the-cluster}
        """,
    )
    offline = validate([workflow])
    assert [str(p) for p in offline.problems] == [
        f"{workflow}: doc 1: Workflow/w: spec.nodes[0].component: node 'a' uses unknown component 'json-procesor' "
        "(did you mean 'json-processor'?)",
        f"{workflow}: doc 1: Workflow/w: spec.nodes[1].component: node 'b' uses unknown component "
        "'somewhere-in-the-cluster'",
    ]
    assert any("the cluster's Components were not consulted" in note for note in offline.notes)
    online = validate([workflow], cluster_components={"somewhere-in-the-cluster"})
    assert [p.field for p in online.problems] == ["spec.nodes[0].component"]
    assert not any("not consulted" in note for note in online.notes)


def test_an_unknown_field_suggests_the_field_meant(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Workflow
        metadata: {name: w}
        spec:
          paralelism: 2
          nodes:
            - {name: a, component: json-processor, dependOn: []}
          input: {dta: x}
        ---
        apiVersion: switchyard.dev/v1alpha1
        kind: Component
        metadata: {name: c}
        spec: {image: x, circuitBreaker: {openSecond: 5}, retry: {backof: {}}}
        sepc: {}
        """,
    )
    assert messages(path) == [
        f"{path}: doc 1: Workflow/w: spec.input.dta: unknown field (did you mean 'data'?)",
        f"{path}: doc 1: Workflow/w: spec.nodes[0].dependOn: unknown field (did you mean 'dependsOn'?)",
        f"{path}: doc 1: Workflow/w: spec.paralelism: unknown field (did you mean 'parallelism'?)",
        f"{path}: doc 2: Component/c: sepc: unknown field (did you mean 'spec'?)",
        f"{path}: doc 2: Component/c: spec.retry.backof: unknown field (did you mean 'backoff'?)",
        f"{path}: doc 2: Component/c: spec.circuitBreaker.openSecond: unknown field (did you mean 'openSeconds'?)",
    ]


def test_cel_errors_point_at_when(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "rule.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: RoutingRule
        metadata: {name: broken}
        spec: {when: 'input.size >', path: [json-processor]}
        """,
    )
    (problem,) = messages(path)
    assert problem.startswith(f"{path}: doc 1: RoutingRule/broken: spec.when: CEL compile error: ")


def test_yaml_errors_have_line_and_column(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "broken.yaml", "kind: Workflow\nspec: [unclosed\n")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3:1: invalid YAML" in out


def test_exit_code_is_1_on_problems_and_when_nothing_was_checked(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", "apiVersion: switchyard.dev/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n")
    assert main(["validate", str(bad)]) == 1
    assert "spec is required" in capsys.readouterr().out
    empty = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["validate", str(empty)]) == 1
    assert "no Switchyard objects found" in capsys.readouterr().err


def test_version_of_both_programs(capsys: pytest.CaptureFixture[str]) -> None:
    from switchyard.config import Options

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("switchyard ")
    with pytest.raises(SystemExit) as exited:
        Options.from_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("switchyard-operator ")


def test_an_unknown_context_is_a_clear_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        tmp_path,
        "kubeconfig",
        """\
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: main, context: {cluster: c, user: u, namespace: team-a}}]
        current-context: main
        """,
    )
    assert main(["--kubeconfig", str(config), "--context", "other", "get", "w"]) == 1
    assert "context 'other' not found in the kubeconfig (main)" in capsys.readouterr().err
    assert main(["--kubeconfig", str(config), "get", "w"]) == 1  # nothing listens on port 9
    assert "workflow w: cannot reach the API server" in capsys.readouterr().err


def test_graph_of_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = REPO / "manifests" / "examples"
    target = tmp_path / "rule.mmd"
    assert main(["graph", str(examples / "routing-rules.yaml"), "-o", str(target)]) == 0
    text = target.read_text()
    assert '["◷ parse<br/>json-processor<br/>Pending"]:::pending' in text
    assert "n0 --> n2" in text and "n1 --> n2" in text  # parse, amounts -> validate
    dot = tmp_path / "diamond.dot"
    assert main(["graph", str(examples / "workflow-diamond.yaml"), "-o", str(dot)]) == 0
    assert "chunk -> parse" in dot.read_text()
    assert main(["graph", str(examples / "workflow-routed.yaml"), "-o", str(dot)]) == 1
    assert "no nodes to draw" in capsys.readouterr().err


def test_dev_keeps_its_options(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`switchyard dev` moved to typer with the argparse version's options (the run itself: test_sandbox.py)."""
    assert main(["dev", "--help"]) == 0
    help_text = capsys.readouterr().out
    for option in ("--dir", "--examples", "--no-examples", "--timeout", "--keep-running"):
        assert option in help_text
    assert main(["dev", "--examples", str(tmp_path / "missing"), "--dir", str(tmp_path / "sbx")]) == 2
    assert f"no examples directory {tmp_path / 'missing'}" in capsys.readouterr().err


def test_a_trigger_with_a_bad_filter_and_a_cyclic_template_is_reported(tmp_path: pathlib.Path) -> None:
    manifest = tmp_path / "trigger.yaml"
    manifest.write_text(
        """apiVersion: switchyard.dev/v1alpha1
kind: Trigger
metadata: {name: t}
spec:
  filter: 'event.type =='
  workflowTemplate:
    nodes:
      - {name: a, component: json-processor, dependsOn: [b]}
      - {name: b, component: json-processor, dependsOn: [a]}
"""
    )
    report = validate([manifest])
    fields = {problem.field for problem in report.problems}
    assert fields == {"spec.filter", "spec.workflowTemplate.nodes"}, report.problems


def test_a_triggers_arguments_are_checked_against_their_variables(tmp_path: pathlib.Path) -> None:
    manifest = write(
        tmp_path,
        "triggers.yaml",
        """\
        apiVersion: switchyard.dev/v1alpha1
        kind: Trigger
        metadata: {name: batched}
        spec:
          workflowTemplateRef: {name: flow}
          batch: {maxItems: 3}
          arguments: {count: 'string(size(events))', first: 'event.data.customer', bad: 'events[0].dat'}
        ---
        apiVersion: switchyard.dev/v1alpha1
        kind: Trigger
        metadata: {name: single}
        spec:
          workflowTemplateRef: {name: flow}
          arguments: {count: 'string(size(events))'}
        """,
    )
    found = messages(manifest)
    assert len(found) == 2, found
    assert "CEL check error in arguments.bad: unknown field dat of an event (did you mean data?)" in found[0]
    assert "arguments.count: unknown variable events" in found[1] and "with batch" in found[1]
