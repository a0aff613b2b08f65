"""Restart safety and API trouble: SIGKILL the operator mid-run, inject 409/429/500; nothing lost, nothing twice."""

from __future__ import annotations

import collections
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    """Outside the session operator's `t-*`: only this test's own operator acts here."""
    return new_namespace(kubeconfig, "r")


@pytest.fixture
def own_operator(kubeconfig: pathlib.Path, namespace: str, tmp_path: pathlib.Path) -> Iterator[OperatorProcess]:
    """An operator of this test alone (watching only its namespace), which the test may kill and restart."""
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=(namespace,)).start()
    proc.wait_ready()
    yield proc
    proc.stop()


def jobs_per_key(kube: Kube) -> collections.Counter[tuple[str, str]]:
    return collections.Counter(
        (j.metadata.labels["switchyard.dev/node"], j.metadata.labels["switchyard.dev/attempt"]) for j in kube.jobs()
    )


def layered_dag(width: int, depth: int) -> list[dict[str, Any]]:
    nodes = []
    for level in range(depth):
        for i in range(width):
            deps = [f"l{level - 1}-{j}" for j in range(width)] if level else []
            nodes.append({"name": f"l{level}-{i}", "component": "proc", "dependsOn": deps})
    return nodes


def test_sigkill_at_several_points_loses_and_duplicates_nothing(
    kube: Kube, sim: JobSimulator, own_operator: OperatorProcess
) -> None:
    kube.component("proc", retry={"limit": 2, "backoff": {"initialSeconds": 1, "factor": 1, "maxSeconds": 1}})

    def rule(job: SimJob) -> Outcome:
        # l1-0 fails its first attempt: a retry timer is pending across a kill. The output names the upstream
        # files (the default output nests their contents: past 4096 bytes at l3, which fails OutputTruncated)
        upstream = sorted(path for path in job.files if path.startswith("switchyard/upstream/"))
        message = json.dumps({"node": job.node, "upstream": upstream})
        return Outcome(succeed=not (job.node == "l1-0" and job.attempt == 1), delay=0.25, message=message)

    sim.rule = rule
    kube.create("Workflow", "survivor", {"input": {"data": "x"}, "nodes": layered_dag(3, 4), "parallelism": 3})
    done = 0
    for target in (1, 4, 7, 10):  # kill at different progress points, including mid-retry
        wait_for(
            lambda t=target: len([s for s in sim.started if s.namespace == kube.namespace]) >= t,
            30,
            what=f"{target} jobs started",
        )
        own_operator.kill()
        done = len(sim.started)
        own_operator.start()
        own_operator.wait_ready()
    status = kube.wait_phase("survivor", "Succeeded", timeout=60)
    assert done < 13, "the kills happened mid-run"
    assert status["progress"] == "12/12"
    assert status["nodes"]["l1-0"]["attempts"] == 2
    counts = jobs_per_key(kube)
    assert all(n == 1 for n in counts.values()), counts
    assert len(counts) == 13  # 12 nodes + one retry
    started = [(s.node, s.attempt) for s in sim.started if s.namespace == kube.namespace]
    assert len(started) == len(set(started)) == 13, "a (node, attempt) ran twice"
    assert own_operator.starts == 5
    (outputs,) = status["outputs"]  # outputs held back at a kill are read again from the Pods, none lost
    assert set(kube.configmap(outputs)) == {node["name"] for node in layered_dag(3, 4)}
    assert sim.errors == [] and sim.mount_waits == []  # and no Pod waited for an upstream output not yet there
    for node in layered_dag(3, 4)[3:]:  # each read all its upstream outputs
        assert len(json.loads(kube.configmap(outputs)[node["name"]])["upstream"]) == 3


def test_restart_keeps_retry_timing(kube: Kube, sim: JobSimulator, own_operator: OperatorProcess) -> None:
    kube.component("slowretry", retry={"limit": 1, "backoff": {"initialSeconds": 4, "factor": 2, "maxSeconds": 60}})
    sim.rule = lambda job: Outcome(succeed=job.attempt == 2)
    kube.create("Workflow", "timer", {"input": {"data": "x"}, "nodes": [{"name": "n", "component": "slowretry"}]})
    node = wait_for(
        lambda: (n := kube.status("Workflow", "timer").get("nodes", {}).get("n", {})).get("phase") == "Retrying" and n,
        20,
        what="Retrying",
    )
    failed = sim.finished[0].at  # the simulator watches this test's namespace only
    own_operator.kill()
    own_operator.start()
    own_operator.wait_ready()
    status = kube.wait_phase("timer", "Succeeded", timeout=30)
    assert status["nodes"]["n"]["attempts"] == 2
    second = next(s.at for s in sim.started if s.namespace == kube.namespace and s.attempt == 2)
    assert second - failed >= 4.0, "the restarted operator retried early"
    assert second - failed <= 8.0, "the restarted operator forgot the timer"
    assert node["nextRetryAt"]


@pytest.mark.parametrize(
    ("method", "path", "status", "times"),
    [
        ("POST", r"/jobs$", 500, 3),
        ("POST", r"/jobs$", 429, 3),
        ("POST", r"/jobs$", 409, 2),
        ("PATCH", r"/workflows/[^/]+/status$", 409, 3),
        ("PATCH", r"/workflows/[^/]+/status$", 500, 3),
        ("PATCH", r"/configmaps/", 503, 2),
        ("GET", r"/jobs/[^/]+$", 500, 2),
    ],
    ids=["create-job-500", "create-job-429", "create-job-409", "status-409", "status-500", "outputs-503", "get-job"],
)
def test_api_faults_are_retried_without_duplicates(
    emulated_cluster: EmulatedCluster,
    kube: Kube,
    sim: JobSimulator,
    own_operator: OperatorProcess,
    method: str,
    path: str,
    status: int,
    times: int,
) -> None:
    kube.component("proc")
    ns_path = f"/namespaces/{kube.namespace}/.*{path.lstrip('/')}"  # this test's namespace only
    fault = emulated_cluster.faults.inject(method=method, path_regex=ns_path, status=status, times=times, retry_after=1)
    try:
        kube.create("Workflow", "faulty", {"input": {"data": "x"}, "nodes": layered_dag(2, 2)})
        kube.wait_phase("faulty", "Succeeded", timeout=45)
    finally:
        fault.times = fault.hits  # a fault the run did not use up must not hit later tests

    counts = jobs_per_key(kube)
    assert sorted(counts.values()) == [1, 1, 1, 1], counts
    started = [(s.node, s.attempt) for s in sim.started if s.namespace == kube.namespace]
    assert len(started) == len(set(started)) == 4
    assert own_operator.alive


def test_operator_refuses_a_spec_change_the_api_let_through(tmp_path: pathlib.Path) -> None:
    """An API server without the CRD's CEL rules (e.g. one that dropped them) lets a spec change through:
    the operator keeps running the spec it started with and says so with a Warning Event."""
    crds = sorted((pathlib.Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))
    with EmulatedCluster(crd_paths=crds, schema_validation=False) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        kube = Kube(kubeconfig, "default")
        proc = OperatorProcess(kubeconfig, tmp_path / "operator.log").start()
        try:
            proc.wait_ready()
            with JobSimulator(kubeconfig, rule=lambda job: Outcome(delay=1.0)) as simulator:
                kube.component("proc")
                nodes = [{"name": "a", "component": "proc"}, {"name": "b", "component": "proc", "dependsOn": ["a"]}]
                kube.create("Workflow", "changing", {"input": {"data": "x"}, "nodes": nodes})
                kube.wait_phase("changing", "Running")
                kube.custom.patch_namespaced_custom_object(
                    "switchyard.dev", "v1alpha1", "default", "workflows", "changing",
                    {"spec": {"nodes": [{"name": "other", "component": "proc"}]}},
                )  # fmt: skip
                event = kube.wait_event("changing", "SpecChangeRejected")
                assert event.type == "Warning" and "spec is immutable" in event.message
                status = kube.wait_phase("changing", "Succeeded", timeout=30)
                assert sorted(status["nodes"]) == ["a", "b"]
                assert sorted(s.node or "" for s in simulator.started) == ["a", "b"]
        finally:
            proc.stop()


def test_sigkill_around_when_and_exit_nodes_runs_each_once_with_the_right_outcome(
    kube: Kube, sim: JobSimulator, own_operator: OperatorProcess
) -> None:
    """Kills while a node whose dependent has a `when` runs, and while an exit node runs: after each restart
    the condition is decided again from the stored outputs, the exit nodes go on, nothing runs twice."""
    kube.component("proc", retry={"limit": 0})
    summaries: dict[str, str] = {}

    def rule(job: SimJob) -> Outcome:
        if job.node in ("notify", "report"):
            summaries[job.node] = job.files.get("switchyard/workflow.json", "")
        return Outcome(delay=1.5, message=json.dumps({"node": job.node, "go": job.node == "a"}))

    sim.rule = rule
    spec = {
        "input": {"data": "x"},
        "nodes": [
            {"name": "a", "component": "proc"},
            {"name": "b", "component": "proc", "dependsOn": ["a"], "when": "upstream.a.result.go"},
            {"name": "c", "component": "proc", "dependsOn": ["a"], "when": "!upstream.a.result.go"},
            {"name": "d", "component": "proc", "dependsOn": ["b", "c"]},
        ],
        "onExit": [
            {"name": "notify", "component": "proc"},
            {"name": "report", "component": "proc", "dependsOn": ["notify"]},
        ],
    }
    kube.create("Workflow", "gated", spec)
    for node in ("a", "notify"):  # kill while each runs
        wait_for(lambda n=node: any(s.node == n for s in sim.started if s.namespace == kube.namespace), 30, what=node)
        own_operator.kill()
        own_operator.start()
        own_operator.wait_ready()
    status = kube.wait_phase("gated", "Succeeded", "Failed", timeout=60)
    assert status["phase"] == "Succeeded", status.get("message")
    phases = {n: (s["phase"], s.get("reason")) for n, s in status["nodes"].items()}
    assert phases == {
        "a": ("Succeeded", None),
        "b": ("Succeeded", None),
        "c": ("Skipped", "WhenFalse"),
        "d": ("Succeeded", None),
        "notify": ("Succeeded", None),
        "report": ("Succeeded", None),
    }
    started = [(s.node, s.attempt) for s in sim.started if s.namespace == kube.namespace]
    assert sorted(started) == sorted({(n, 1) for n in ("a", "b", "d", "notify", "report")}), started
    assert all(n == 1 for n in jobs_per_key(kube).values())
    assert json.loads(summaries["report"]) == {
        "phase": "Succeeded",
        "message": "all 4 nodes done: 3 succeeded, 1 skipped",
        "failedCount": 0,
        "failedNodes": [],
    }
    assert sim.errors == [] and sim.mount_waits == []
