"""The `switchyard` CLI against the real operator on the emulated cluster: get, graph, logs, stop, retry, and
`kubectl switchyard` through kubectl's plugin mechanism."""

from __future__ import annotations

import getpass
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml

from switchyard.cli import view
from switchyard.cli.main import main
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")

DIAMOND = [
    {"name": "chunk", "component": "proc"},
    {"name": "parse", "component": "proc", "dependsOn": ["chunk"]},
    {"name": "numbers", "component": "proc", "dependsOn": ["chunk"]},
    {"name": "validate", "component": "proc", "dependsOn": ["parse", "numbers"]},
]


def cli(kubeconfig: pathlib.Path, kube: Kube, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--kubeconfig", str(kubeconfig), "-n", kube.namespace, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fail_first_attempt_of(node: str) -> Any:
    def rule(job: SimJob) -> Outcome | None:
        if job.node == node and job.attempt == 1:
            return Outcome(succeed=False, exit_code=3, message="first attempt fails")
        return None

    return rule


STEP_ROW = re.compile(r"^[│ ]*[├└]─(\S) (\S+)(?: \((?:also )?after: [^)]*\))?(.*)$")


def tree_rows(out: str) -> dict[str, list[str]]:
    """STEP rows by node name: [symbol, name, phase, attempts, duration, job, ...], whatever their depth."""
    rows = {}
    for line in out.splitlines():
        if match := STEP_ROW.match(line):
            rows[match[2]] = [match[1], match[2], *match[3].split()]
    return rows


def test_get_shows_the_tree_of_a_real_run(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
) -> None:
    kube.component("proc", retry={"limit": 2, "backoff": {"initialSeconds": 0.1}})
    sim.rule = fail_first_attempt_of("numbers")
    kube.create("Workflow", "diamond", {"input": {"data": "1 2 3"}, "nodes": DIAMOND})
    status = kube.wait_phase("diamond", "Succeeded", "Failed", timeout=90)
    assert status["phase"] == "Succeeded"

    code, out, _ = cli(kubeconfig, kube, capsys, "get", "diamond")
    assert code == 0
    assert "Phase:      ✔ Succeeded" in out
    assert f"Namespace:  {kube.namespace}" in out
    assert "Progress:   4/4" in out
    rows = tree_rows(out)
    assert list(rows) == ["chunk", "parse", "validate", "numbers"]  # each under what it waits for
    assert "│ └─✔ validate (also after: numbers)" in out
    for name, cells in rows.items():
        node = status["nodes"][name]
        assert cells[0] == "✔" and cells[2] == "Succeeded"
        assert cells[3] == str(node["attempts"])
        assert node["job"] in cells  # the latest attempt's Job
        assert "Closed" in cells  # the component's breaker state
    assert rows["numbers"][3] == "2"
    assert view.result_text(status["nodes"]["chunk"]["output"])[:30] in out  # the result, without its identity
    assert '"processor"' not in out
    for node in status["nodes"].values():  # the precision of a Job's times: durations compare like with like
        assert "." not in node["startedAt"] and "." not in node["finishedAt"]

    code, out, _ = cli(kubeconfig, kube, capsys, "get", "diamond", "-o", "json")
    assert code == 0
    assert json.loads(out)["status"]["nodes"] == status["nodes"]
    code, out, _ = cli(kubeconfig, kube, capsys, "get", "diamond", "-o", "yaml")
    assert yaml.safe_load(out)["metadata"]["name"] == "diamond"

    target = tmp_path / "diamond.dot"
    code, out, _ = cli(kubeconfig, kube, capsys, "graph", "diamond", "-o", str(target))
    assert code == 0
    dot = target.read_text()
    assert "chunk -> numbers" in dot and dot.count('fillcolor="#a6e3a1"') == 4  # all Succeeded green

    code, _, err = cli(kubeconfig, kube, capsys, "get", "missing")
    assert code == 1 and f"workflow missing: not found in namespace {kube.namespace}" in err

    code, out, _ = cli(kubeconfig, kube, capsys, "list")
    assert code == 0
    listed = [" ".join(line.split()) for line in out.splitlines()]
    assert listed[0].startswith("NAME PHASE PROGRESS ROUTE STARTED DURATION MESSAGE")
    assert listed[1].startswith("diamond ✔ Succeeded 4/4 explicit")


def test_get_watch_returns_when_the_workflow_finishes(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=1.0)
    kube.create("Workflow", "watched", {"input": {"data": "x"}, "nodes": DIAMOND[:2]})
    code, out, _ = cli(kubeconfig, kube, capsys, "get", "watched", "--watch")
    assert code == 0
    assert kube.status("Workflow", "watched")["phase"] == "Succeeded"
    assert "Phase:      ✔ Succeeded" in out
    # piped (as here), the last frame alone, as `get` prints it: no cursor moves, no padding at line ends
    assert "\x1b[" not in out and out.count("Phase:") == 1, out
    assert [line for line in out.splitlines() if line != line.rstrip()] == []


def test_logs_reads_the_pod_of_the_latest_attempt(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc", retry={"limit": 2, "backoff": {"initialSeconds": 0.1}})
    sim.rule = fail_first_attempt_of("only")
    kube.create("Workflow", "logged", {"input": {"data": "x"}, "nodes": [{"name": "only", "component": "proc"}]})
    status = kube.wait_phase("logged", "Succeeded", "Failed", timeout=60)
    job = status["nodes"]["only"]["job"]
    assert status["nodes"]["only"]["attempts"] == 2 and "-only-0-2-" in job
    pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=f"batch.kubernetes.io/job-name={job}").items
    assert len(pods) == 1

    code, _, err = cli(kubeconfig, kube, capsys, "logs", "logged", "nope")
    assert code == 1 and "has no node 'nope'" in err

    # the emulator serves pods/log (the simulator's output): the latest attempt's Pod, not the failed first one
    code, out, err = cli(kubeconfig, kube, capsys, "logs", "logged", "only")
    assert code == 0, err
    assert '"attempt": 2' in out and "first attempt fails" not in out, out


def test_stop_sets_the_annotation(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(delay=300)  # runs until stopped
    nodes = [{"name": "slow", "component": "proc"}, {"name": "after", "component": "proc", "dependsOn": ["slow"]}]
    kube.create("Workflow", "long", {"input": {"data": "x"}, "nodes": nodes})
    kube.wait_phase("long", "Running", timeout=30)

    code, out, err = cli(kubeconfig, kube, capsys, "stop", "long")
    assert code == 0, err
    expected = f"stopped by {getpass.getuser()} via switchyard stop"
    assert expected in out
    annotations = kube.get("Workflow", "long")["metadata"]["annotations"]
    assert annotations["switchyard.dev/stop"] == expected
    kube.wait_phase("long", "Failed", timeout=30)
    code, out, _ = cli(kubeconfig, kube, capsys, "get", "long")
    after = tree_rows(out)["after"]
    assert after[2] == "Skipped" and " ".join(after[3:]).endswith("Stopped: the workflow was stopped"), out
    assert out.lower().count("skipped") == 2, out  # the after row's phase, and the Progress line's count

    kube.create("Workflow", "long2", {"input": {"data": "x"}, "nodes": [{"name": "slow", "component": "proc"}]})
    kube.wait_phase("long2", "Running", timeout=30)
    code, _, _ = cli(kubeconfig, kube, capsys, "stop", "long2", "--reason", "bad batch")
    assert code == 0
    assert kube.get("Workflow", "long2")["metadata"]["annotations"]["switchyard.dev/stop"] == "bad batch"

    # --wait returns once the Workflow is Failed (here its only node fails by itself a few seconds later)
    kube.component("once", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=False, delay=3.0) if job.workflow == "short" else Outcome(delay=300)
    kube.create("Workflow", "short", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "once"}]})
    kube.wait_phase("short", "Running", timeout=30)
    code, out, err = cli(kubeconfig, kube, capsys, "stop", "short", "--wait", "--timeout", "120")
    assert code == 0, err
    assert out.splitlines()[-1] == "workflow short: Failed"
    assert kube.status("Workflow", "short")["phase"] == "Failed"
    code, out, _ = cli(kubeconfig, kube, capsys, "stop", "short")
    assert code == 0 and "already finished (Failed): nothing to stop" in out


def test_retry_creates_a_workflow_reusing_the_failed_one(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=False, exit_code=2) if job.node == "validate" else None
    spec = {"input": {"data": "1 2"}, "nodes": DIAMOND}
    kube.create("Workflow", "flaky", spec, labels={"team": "a"})
    kube.wait_phase("flaky", "Failed", timeout=60)

    code, out, err = cli(kubeconfig, kube, capsys, "retry", "flaky")
    assert code == 0, err
    assert out.strip() == "flaky-retry-1"
    created = kube.get("Workflow", "flaky-retry-1")
    assert created["metadata"]["labels"] == {"team": "a"}
    assert created["spec"]["nodes"] == kube.get("Workflow", "flaky")["spec"]["nodes"]
    assert created["spec"]["input"]["data"] == "1 2"
    crd = (REPO / "crds" / "workflows.switchyard.dev.yaml").read_text()
    if "reuse" in crd:  # the CRD knows spec.reuse (the operator side of retry)
        assert created["spec"]["reuse"] == {"workflow": "flaky"}
    else:
        assert "dropped spec.reuse" in err  # the server pruned it: the CLI says so

    code, out, _ = cli(kubeconfig, kube, capsys, "retry", "flaky")
    assert code == 0 and out.strip() == "flaky-retry-2"  # the first free n

    wait_for(lambda: kube.status("Workflow", "flaky-retry-1").get("phase"), 30, what="retry started")
    kube.create("Workflow", "fine", {"input": {"data": "x"}, "nodes": DIAMOND[:1]})
    sim.rule = None
    kube.wait_phase("fine", "Succeeded", timeout=60)
    code, _, err = cli(kubeconfig, kube, capsys, "retry", "fine")
    assert code == 1 and "only a Failed Workflow can be retried; nothing to retry" in err


def test_kubectl_switchyard_plugin(kubeconfig: pathlib.Path) -> None:
    """After the README's install (`make venv` / `pip install`), pip has put the `kubectl-switchyard` console
    script next to the environment's python: with that bin directory on PATH, the real kubectl finds the plugin."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    bindir = pathlib.Path(sys.executable).parent
    assert (bindir / "kubectl-switchyard").is_file(), "pip installs the console script of pyproject's [project.scripts]"
    path = os.pathsep.join([str(bindir), str(pathlib.Path(KUBECTL).parent)])  # nothing else that could provide it
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(kubeconfig)}
    plugins = subprocess.run([KUBECTL, "plugin", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert str(bindir / "kubectl-switchyard") in plugins.stdout, plugins.stdout + plugins.stderr
    version = subprocess.run([KUBECTL, "switchyard", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().startswith("switchyard ")
    helped = subprocess.run(
        [KUBECTL, "switchyard", "get", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "Usage: kubectl switchyard get [OPTIONS] WORKFLOW" in helped.stdout, helped.stdout
    assert "<str>" not in helped.stdout and "<bool>" not in helped.stdout


def test_route_uses_the_namespaces_rules_without_rules_dir(
    kube: Kube,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
) -> None:
    kube.create("RoutingRule", "big", {"priority": 10, "when": "input.size > 3", "path": ["numeric-processor"]})
    kube.create("RoutingRule", "broken", {"priority": 20, "when": "input.json.kind == 'x'", "path": ["json-processor"]})
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(
        "apiVersion: switchyard.dev/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec: {input: {data: '12345'}}\n"
    )
    code, out, err = cli(kubeconfig, kube, capsys, "route", str(manifest))
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert any(line.startswith("broken 20 ⚠ skipped CEL evaluation error") for line in lines)
    assert "big 10 ✔ matched (chosen) input.size > 3 (size=5)" in lines
    assert "Route: rule big: numeric-processor" in lines


def test_route_reads_the_namespaces_component_health(
    kube: Kube,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
) -> None:
    kube.component("primary", runtimeEstimateSeconds=5)
    kube.component("backup", runtimeEstimateSeconds=9)
    rule = {
        "when": "components.primary.breaker != 'Open'",
        "alternatives": [{"path": ["primary"]}, {"path": ["backup"]}],
    }
    kube.create("RoutingRule", "pick", rule)
    kube.create("RoutingRule", "ghost", {"priority": 5, "when": "components.nosuch.failureRate > 0.5", "path": ["x"]})
    manifest = tmp_path / "wf.yaml"
    manifest.write_text(
        "apiVersion: switchyard.dev/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec: {input: {data: 'x'}}\n"
    )
    code, out, err = cli(kubeconfig, kube, capsys, "route", str(manifest))
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert any(line.startswith("ghost 5 ⚠ skipped no Component 'nosuch' in the namespace") for line in lines), lines
    assert "Route: rule pick: primary" in lines
    assert any("alternative 1 (primary: 5s; primary: estimate 5s) over 2 (backup: 9s" in line for line in lines), lines


def workflow_doc(name: str, nodes: list[dict[str, Any]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"input": {"data": "1 2 3"}, "nodes": nodes},
    }


def test_submit_wait_exits_0_only_for_succeeded_and_generate_name_submits_again(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
) -> None:
    kube.component("proc", retry={"limit": 0})
    component = {"apiVersion": "switchyard.dev/v1alpha1", "kind": "Component", "metadata": {"name": "x"}, "spec": {}}
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump_all([component, workflow_doc("run", DIAMOND[:2])]))

    code, out, err = cli(kubeconfig, kube, capsys, "submit", str(file), "--wait")
    assert code == 0, err
    assert out.splitlines() == ["run", "workflow run: Succeeded: all 2 nodes succeeded"]
    assert "Component/x is not submitted (kubectl apply it)" in err
    assert kube.status("Workflow", "run")["phase"] == "Succeeded"

    code, out, err = cli(kubeconfig, kube, capsys, "submit", str(file), "--generate-name")
    assert code == 0, err
    first = out.strip()
    code, out, err = cli(kubeconfig, kube, capsys, "submit", str(file), "--generate-name")
    second = out.strip()
    assert first != second and first.startswith("run-") and second.startswith("run-")
    assert kube.get("Workflow", first)["metadata"]["generateName"] == "run-"
    kube.wait_phase(second, "Succeeded", timeout=60)

    code, _, err = cli(kubeconfig, kube, capsys, "submit", str(file))
    assert code == 1 and "already exists" in err, err  # without --generate-name the name is taken

    sim.rule = lambda job: Outcome(succeed=False, exit_code=2, message="bad input") if job.node == "parse" else None
    failing = tmp_path / "failing.yaml"
    failing.write_text(yaml.safe_dump(workflow_doc("doomed", DIAMOND)))
    code, out, err = cli(kubeconfig, kube, capsys, "submit", str(failing), "--watch")
    assert code == 1
    assert out.splitlines()[0] == "doomed"
    rows = tree_rows(out)  # the last frame of the live tree
    assert rows["parse"][2] == "Failed" and rows["validate"][2] == "Skipped", out
    assert "workflow doomed: Failed (NodeFailed)" in err, err


def test_submit_refuses_a_file_without_workflows(
    kube: Kube, kubeconfig: pathlib.Path, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    file = tmp_path / "none.yaml"
    file.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    code, _, err = cli(kubeconfig, kube, capsys, "submit", str(file))
    assert code == 1 and "no switchyard.dev/v1alpha1 Workflow in the file" in err


def test_list_formats_and_filters(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.component("proc", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=False, exit_code=2) if job.workflow == "bad" else None
    kube.create("Workflow", "good", {"input": {"data": "1"}, "nodes": DIAMOND[:1]}, labels={"team": "a"})
    kube.create("Workflow", "bad", {"input": {"data": "1"}, "nodes": DIAMOND[:2]}, labels={"team": "b"})
    kube.wait_phase("good", "Succeeded", timeout=60)
    kube.wait_phase("bad", "Failed", timeout=60)

    code, out, _ = cli(kubeconfig, kube, capsys, "list", "-o", "json")
    listed = json.loads(out)
    assert code == 0 and listed["kind"] == "List"
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["bad", "good"]
    code, out, _ = cli(kubeconfig, kube, capsys, "list", "-o", "yaml", "-l", "team=a")
    assert [item["metadata"]["name"] for item in yaml.safe_load(out)["items"]] == ["good"]
    code, out, _ = cli(kubeconfig, kube, capsys, "list", "--phase", "failed", "-o", "name")
    assert out.splitlines() == ["workflow.switchyard.dev/bad"]
    code, out, _ = cli(kubeconfig, kube, capsys, "list", "-o", "wide", "--selector", "team in (a,b)")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0] == "NAME PHASE PROGRESS ROUTE STARTED FINISHED DURATION NODES LABELS MESSAGE"
    bad = next(line for line in lines if line.startswith("bad "))
    assert "0/2" in bad and "1✖ 1○" in bad and "team=b" in bad
    code, out, _ = cli(kubeconfig, kube, capsys, "list", "--phase", "Running,Pending")
    assert code == 0 and f"No Workflows in namespace {kube.namespace} matching phase Pending, Running." in out
    code, _, err = cli(kubeconfig, kube, capsys, "list", "--phase", "done")
    assert code == 1 and "unknown phase 'done' (phases: Pending, Running, Succeeded, Failed, Invalid)" in err


def test_validate_counts_the_clusters_components_and_suggests_a_near_name(
    kube: Kube, kubeconfig: pathlib.Path, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    kube.component("enricher")
    file = tmp_path / "wf.yaml"
    nodes = [{"name": "a", "component": "enricher"}, {"name": "b", "component": "enricer", "dependsOn": ["a"]}]
    file.write_text(yaml.safe_dump(workflow_doc("w", nodes)))

    code, out, _ = cli(kubeconfig, kube, capsys, "validate", str(file))
    assert code == 1
    assert "spec.nodes[1].component: node 'b' uses unknown component 'enricer' (did you mean 'enricher'?)" in out
    assert "'enricher'" not in out.replace("did you mean 'enricher'", ""), "the cluster's Component is known"
    assert "not consulted" not in out

    code, out, _ = cli(kubeconfig, kube, capsys, "validate", "--no-cluster", str(file))
    assert code == 1 and "uses unknown component 'enricher'" in out
    assert "the cluster's Components were not consulted (--no-cluster)" in " ".join(out.split())

    missing = tmp_path / "nowhere.kubeconfig"
    code, out, _ = cli(missing, kube, capsys, "validate", str(file))
    assert code == 1 and "not consulted (no cluster: no usable kubeconfig" in " ".join(out.split())


def test_logs_finds_an_instance_pod_by_its_labels_when_the_status_keeps_no_job_name(
    kube: Kube,
    sim: JobSimulator,
    running_operator: OperatorProcess,
    kubeconfig: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A compact status (above 1,000 nodes) keeps a forEach instance as `{"phase": "Succeeded"}`: no Job name,
    its one attempt implied. `logs WF NODE[i]` then finds the Pod by the attempt's labels. The run here is small,
    so the test removes what a compact status leaves out, as a stand-in for a 1,001-node run."""
    kube.component("proc")
    nodes = [{"name": "map", "component": "proc", "forEach": {"items": ["a", "b", "c"]}}]
    kube.create("Workflow", "compactlogs", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("compactlogs", "Succeeded", "Failed", timeout=60)
    assert status["phase"] == "Succeeded" and status["nodes"]["map[1]"]["job"]
    compact = {"map[1]": {"job": None, "attempts": None, "startedAt": None, "finishedAt": None, "output": None}}
    kube.custom.patch_namespaced_custom_object_status(
        "switchyard.dev", "v1alpha1", kube.namespace, "workflows", "compactlogs", {"status": {"nodes": compact}}
    )
    assert kube.status("Workflow", "compactlogs")["nodes"]["map[1]"] == {"phase": "Succeeded"}

    code, out, err = cli(kubeconfig, kube, capsys, "logs", "compactlogs", "map[1]")
    assert code == 0, err
    assert '"attempt": 1' in out and "map.1" in out, out
