"""WorkflowTemplates end to end: a run with arguments, bad arguments, a template edit and a restart mid-run."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.logic import naming
from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import GROUP, VERSION, Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated


def make_template(kube: Kube, name: str, workflow: dict[str, Any] | None = None) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {
            "parameters": [
                {"name": "mode", "enum": ["fast", "slow"], "description": "how hard to try"},
                {"name": "size", "default": "16"},
            ],
            "workflow": workflow
            or {
                "input": {"data": "run {{params.mode}}"},
                "nodes": [
                    {"name": "a", "component": "proc", "config": {"label": "{{params.mode}}-{{ params.size }}"}},
                    {"name": "b", "component": "proc", "dependsOn": ["a"], "config": {"deep": ["{{params.size}}"]}},
                ],
            },
        },
    }
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflowtemplates", body)


def template_status(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.custom.get_namespaced_custom_object(GROUP, VERSION, kube.namespace, "workflowtemplates", name)
    return found.get("status") or {}


def ready(kube: Kube, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: next((c for c in template_status(kube, name).get("conditions", []) if c["type"] == "Ready"), None),
        20,
        what=f"template {name} Ready condition",
    )


def run(kube: Kube, name: str, template: str, **arguments: str) -> None:
    kube.create("Workflow", name, {"workflowTemplateRef": {"name": template}, "arguments": arguments})


def job_config(kube: Kube, node: str, workflow: str | None = None) -> dict[str, Any]:
    labels = [j for j in kube.jobs() if j.metadata.labels["switchyard.dev/node"] == node]
    (job,) = [j for j in labels if workflow is None or j.metadata.labels["switchyard.dev/workflow"] == workflow]
    return json.loads(job.spec.template.metadata.annotations["switchyard.dev/config"])  # type: ignore[no-any-return]


@pytest.mark.usefixtures("running_operator")
def test_a_template_runs_with_its_arguments_substituted(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    make_template(kube, "pipeline")
    condition = ready(kube, "pipeline")
    assert (condition["status"], condition["reason"]) == ("True", "Valid")
    run(kube, "fast-run", "pipeline", mode="fast")
    status = kube.wait_phase("fast-run", "Succeeded", "Invalid", "Failed")
    assert status["phase"] == "Succeeded", status
    assert job_config(kube, "a") == {"label": "fast-16"}
    assert job_config(kube, "b") == {"deep": ["16"]}
    assert kube.configmap(naming.input_configmap("fast-run"))["input"] == "run fast"
    snapshot = status["template"]
    assert snapshot["name"] == "pipeline" and snapshot["parameters"] == {"mode": "fast", "size": "16"}
    assert [n["name"] for n in snapshot["spec"]["nodes"]] == ["a", "b"]
    assert set(status["nodes"]) == {"a", "b"}


@pytest.mark.usefixtures("running_operator")
@pytest.mark.parametrize(
    ("arguments", "reason", "message"),
    [
        (
            {"mode": "fast", "colour": "red"},
            "UnknownArgument",
            "argument 'colour' is not a parameter of workflowtemplate pipeline (its parameters: mode, size)",
        ),
        ({"size": "3"}, "MissingArgument", "argument 'mode' is required by workflowtemplate pipeline"),
        ({"mode": "medium"}, "ArgumentNotAllowed", "argument 'mode' is 'medium', not one of the values"),
    ],
    ids=["unknown", "missing", "enum"],
)
def test_bad_arguments_make_the_workflow_invalid_naming_them(
    kube: Kube, sim: JobSimulator, arguments: dict[str, str], reason: str, message: str
) -> None:
    kube.component("proc")
    make_template(kube, "pipeline")
    run(kube, "bad", "pipeline", **arguments)
    status = kube.wait_phase("bad", "Invalid")
    assert status["message"].startswith(message)
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"]) == ("False", reason)
    event = kube.wait_event("bad", reason)
    assert event.type == "Warning" and event.message.startswith(message)
    assert kube.jobs() == [] and sim.started == []


@pytest.mark.usefixtures("running_operator")
def test_a_missing_or_broken_template_is_invalid_and_the_template_not_ready(kube: Kube, sim: JobSimulator) -> None:
    run(kube, "orphan", "ghost", mode="fast")
    status = kube.wait_phase("orphan", "Invalid")
    assert status["message"] == "workflowtemplate ghost not found"
    make_template(kube, "broken", {"nodes": [{"name": "a", "component": "proc", "config": {"x": "{{params.nope}}"}}]})
    condition = ready(kube, "broken")
    assert (condition["status"], condition["reason"]) == ("False", "UndeclaredParameter")
    assert "{{params.nope}} refers to no parameter" in condition["message"]
    kube.wait_event("broken", "UndeclaredParameter")
    run(kube, "uses-broken", "broken", mode="fast")
    status = kube.wait_phase("uses-broken", "Invalid")
    assert status["message"].startswith("workflowtemplate broken is invalid: {{params.nope}} refers to no parameter")


@pytest.fixture
def own_namespace(kubeconfig: pathlib.Path) -> str:
    return new_namespace(kubeconfig, "tpl")  # outside the session operator's `t-*`


@pytest.fixture
def own_operator(kubeconfig: pathlib.Path, own_namespace: str, tmp_path: pathlib.Path) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=(own_namespace,)).start()
    proc.wait_ready()
    yield proc
    proc.stop()


def test_editing_the_template_mid_run_and_a_restart_change_nothing(
    kubeconfig: pathlib.Path, own_namespace: str, own_operator: OperatorProcess
) -> None:
    kube = Kube(kubeconfig, own_namespace)
    kube.component("proc")
    make_template(kube, "pipeline")
    ready(kube, "pipeline")
    with JobSimulator(kubeconfig, namespace=own_namespace, rule=lambda job: Outcome(delay=1.5)) as sim:
        run(kube, "steady", "pipeline", mode="slow", size="32")
        wait_for(lambda: sim.started, 20, what="node a started")
        # the template changes under the run: its next node must still get the old config
        kube.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            own_namespace,
            "workflowtemplates",
            "pipeline",
            {"spec": {"workflow": {"nodes": [{"name": "a", "component": "proc", "config": {"label": "edited"}}]}}},
        )
        own_operator.kill()  # the restarted operator reads the snapshot in status, not the template
        own_operator.start()
        own_operator.wait_ready()
        status = kube.wait_phase("steady", "Succeeded", timeout=40)
        assert job_config(kube, "a") == {"label": "slow-32"}
        assert job_config(kube, "b") == {"deep": ["32"]}
        assert status["template"]["parameters"] == {"mode": "slow", "size": "32"}
        assert set(status["nodes"]) == {"a", "b"}
        # a new run of the edited template gets the edit
        run(kube, "after-edit", "pipeline", mode="fast")
        status = kube.wait_phase("after-edit", "Succeeded", timeout=30)
        assert set(status["nodes"]) == {"a"}
        assert sim.errors == []


@pytest.mark.usefixtures("running_operator")
def test_switchyard_submit_from_a_template_with_parameters(
    kube: Kube, sim: JobSimulator, kubeconfig: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from switchyard.cli.main import main

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--kubeconfig", str(kubeconfig), "-n", kube.namespace, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    kube.component("proc")
    make_template(kube, "pipeline")
    code, out, err = cli("submit", "--from", "workflowtemplate/pipeline", "-p", "mode=fast", "-p", "size=8", "--wait")
    assert code == 0, err
    name, line = out.splitlines()
    assert name.startswith("pipeline-") and line == f"workflow {name}: Succeeded: all 2 nodes succeeded"
    assert kube.get("Workflow", name)["spec"]["arguments"] == {"mode": "fast", "size": "8"}
    assert job_config(kube, "a", name) == {"label": "fast-8"}
    code, out, err = cli("submit", "--from", "sywft/pipeline", "-p", "mode=medium", "--name", "wrong", "--wait")
    assert code == 1 and out.splitlines()[0] == "wrong"
    assert "workflow wrong: Invalid" in err and "not one of the values" in err, err
    code, _, err = cli("submit", "--from", "configmap/pipeline")
    assert code == 1 and "give workflowtemplate/NAME" in err
    code, _, err = cli("submit", "--from", "workflowtemplate/pipeline", "-p", "mode")
    assert code == 1 and "give NAME=VALUE" in err
    code, _, err = cli("submit")
    assert code == 1 and "give a FILE or --from" in err


@pytest.mark.usefixtures("running_operator")
def test_params_is_the_cel_variable_of_a_nodes_when(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"], "when": 'params.mode == "fast"'},
    ]
    make_template(kube, "gated", {"nodes": nodes})
    run(kube, "gated-slow", "gated", mode="slow")
    run(kube, "gated-fast", "gated", mode="fast")
    slow = kube.wait_phase("gated-slow", "Succeeded")
    fast = kube.wait_phase("gated-fast", "Succeeded")
    assert (slow["nodes"]["b"]["phase"], slow["nodes"]["b"]["reason"]) == ("Skipped", "WhenFalse")
    assert fast["nodes"]["b"]["phase"] == "Succeeded"


@pytest.mark.usefixtures("running_operator")
def test_routing_rules_read_a_template_runs_params(kube: Kube, sim: JobSimulator) -> None:
    kube.component("fastproc")
    kube.component("slowproc")
    kube.create("RoutingRule", "fast", {"priority": 10, "when": 'params.mode == "fast"', "path": ["fastproc"]})
    kube.create("RoutingRule", "rest", {"priority": 1, "when": "input.size > 0", "path": ["slowproc"]})
    make_template(kube, "routed", {"input": {"data": "some data"}})
    run(kube, "routed-fast", "routed", mode="fast")
    run(kube, "routed-slow", "routed", mode="slow")
    kube.create("Workflow", "plain", {"input": {"data": "some data"}})  # not a template run: params is empty
    fast = kube.wait_phase("routed-fast", "Succeeded")
    slow = kube.wait_phase("routed-slow", "Succeeded")
    plain = kube.wait_phase("plain", "Succeeded")
    assert (fast["route"]["rule"], list(fast["nodes"])) == ("fast", ["fastproc"])
    assert (slow["route"]["rule"], list(slow["nodes"])) == ("rest", ["slowproc"])
    assert (plain["route"]["rule"], list(plain["nodes"])) == ("rest", ["slowproc"])


@pytest.mark.usefixtures("running_operator")
def test_a_failed_template_run_is_re_run_reusing_its_succeeded_nodes(kube: Kube, sim: JobSimulator) -> None:
    kube.component("proc")
    kube.component("flaky", retry={"limit": 0})
    nodes = [{"name": "a", "component": "proc"}, {"name": "b", "component": "flaky", "dependsOn": ["a"]}]
    make_template(kube, "once", {"nodes": nodes})
    sim.rule = lambda job: Outcome(succeed=job.component != "flaky")
    run(kube, "first", "once", mode="fast")
    kube.wait_phase("first", "Failed")
    sim.rule = lambda job: Outcome()
    spec = {"workflowTemplateRef": {"name": "once"}, "arguments": {"mode": "fast"}, "reuse": {"workflow": "first"}}
    kube.create("Workflow", "again", spec)
    status = kube.wait_phase("again", "Succeeded", "Failed", "Invalid")
    assert status["phase"] == "Succeeded", status
    assert status["nodes"]["a"]["reason"] == "Reused" and status["nodes"]["b"]["attempts"] == 1
