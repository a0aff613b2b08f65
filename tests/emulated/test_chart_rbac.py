"""The operator under exactly the chart's RBAC: the emulator enforces the rendered Roles and bindings for the
operator's ServiceAccount token (`sandbox/rbac.py`), in cluster mode and in namespaced mode.

Whole Workflows run (Jobs, outputs ConfigMaps, status, finalizers, Events, the Lease, the FailedCreate Events
watch through a quota wait) and no request of the operator is denied: the chart grants enough. The contract
tests (`tests/contract/test_chart.py`) pin that it grants no more.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from switchyard.sandbox import failedcreate
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "switchyard"
CRDS = sorted((REPO / "crds").glob("*.yaml"))
RELEASE, RELEASE_NAMESPACE = "switchyard", "switchyard-system"
OPERATOR_TOKEN = "chart-service-account"
WORKLOAD = "team-rbac"


def helm() -> str:
    for candidate in (REPO / ".tools" / "helm", shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.skip("helm not found at .tools/helm or on PATH: run scripts/get-helm.sh")


def render(*sets: str) -> list[dict[str, Any]]:
    args = [helm(), "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE]
    for item in sets:
        args += ["--set", item]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def chart_args(docs: list[dict[str, Any]]) -> tuple[str, ...]:
    """The Deployment's operator args, but for the ports (the test picks free ones)."""
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return tuple(a for a in container["args"] if not a.startswith(("--metrics-port", "--health-port")))


@pytest.fixture(params=["cluster", "namespaced"])
def chart_cluster(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[tuple[EmulatedCluster, tuple[str, ...]]]:
    sets = () if request.param == "cluster" else (f"watchNamespaces={{{WORKLOAD}}}",)
    docs = render(*sets)
    with EmulatedCluster(crd_paths=CRDS, namespaces=(RELEASE_NAMESPACE, WORKLOAD)) as cluster:
        kinds = {d["kind"] for d in docs if d["apiVersion"].startswith("rbac.")}
        expected = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
        assert kinds == expected, kinds  # namespaced: Roles per namespace; both: the leader-election Role
        assert cluster.rbac.load(docs) >= 4
        [account] = [d for d in docs if d["kind"] == "ServiceAccount"]
        cluster.rbac.serviceaccount(OPERATOR_TOKEN, RELEASE_NAMESPACE, account["metadata"]["name"])
        yield cluster, chart_args(docs)


def test_the_operator_runs_workflows_with_exactly_the_charts_rbac(
    chart_cluster: tuple[EmulatedCluster, tuple[str, ...]], tmp_path: pathlib.Path
) -> None:
    cluster, args = chart_cluster
    operator_config = cluster.write_kubeconfig(tmp_path / "operator", token=OPERATOR_TOKEN)
    admin_config = cluster.write_kubeconfig(tmp_path / "admin")
    extra = (*args, "--lease-namespace", RELEASE_NAMESPACE)
    proc = OperatorProcess(operator_config, tmp_path / "operator.log", extra_args=extra).start()
    quota_full = threading.Event()
    quota_full.set()

    def rule(job: SimJob) -> Outcome | None:
        quota = failedcreate.QUOTA_PODS.replace("{quota}", "q").replace("{used}", "1")
        return Outcome(refuse=quota) if job.node == "c" and quota_full.is_set() else None

    try:
        proc.wait_ready(timeout=60)
        kube = Kube(admin_config, WORKLOAD)
        with JobSimulator(admin_config, namespace=WORKLOAD, rule=rule, refuse_backoff=(0.2, 1.0)):
            kube.component("proc")
            nodes = [
                {"name": "a", "component": "proc"},
                {"name": "b", "component": "proc", "dependsOn": ["a"]},
                {"name": "c", "component": "proc", "dependsOn": ["a"]},
            ]
            kube.create("Workflow", "w", {"input": {"data": "x"}, "nodes": nodes})
            wait_for(
                lambda: kube.status("Workflow", "w").get("nodes", {}).get("c", {}).get("reason") == "QuotaExceeded",
                30,
                what="node c waiting for quota (the FailedCreate Events watch)",
            )
            quota_full.clear()
            status = kube.wait_phase("w", "Succeeded", timeout=60)
            assert set(status["nodes"]) == {"a", "b", "c"}
        lease = cluster.get("coordination.k8s.io/v1/leases", RELEASE, RELEASE_NAMESPACE)
        assert lease is not None and lease["spec"]["holderIdentity"]
        assert proc.alive
        assert cluster.rbac.denied == [], cluster.rbac.denied
    finally:
        proc.stop()


def test_a_rule_missing_from_the_roles_is_a_403_the_operator_reports(tmp_path: pathlib.Path) -> None:
    """The check has teeth: the chart's RBAC without events list/watch (as before the FailedCreate watch) is
    denied with kube-apiserver's message, and the operator, which treats that watch as optional, says so."""
    docs = render()
    for doc in docs:
        for rule in doc.get("rules") or []:
            if rule.get("resources") == ["events"] and rule.get("apiGroups") == [""]:
                rule["verbs"] = [v for v in rule["verbs"] if v not in ("list", "watch")]
    with EmulatedCluster(crd_paths=CRDS, namespaces=(RELEASE_NAMESPACE, WORKLOAD)) as cluster:
        cluster.rbac.load(docs)
        user = cluster.rbac.serviceaccount(OPERATOR_TOKEN, RELEASE_NAMESPACE, RELEASE)
        operator_config = cluster.write_kubeconfig(tmp_path / "operator", token=OPERATOR_TOKEN)
        extra = (*chart_args(docs), "--lease-namespace", RELEASE_NAMESPACE)
        proc = OperatorProcess(operator_config, tmp_path / "operator.log", extra_args=extra).start()
        try:
            proc.wait_ready(timeout=60)
            denied = (
                f'events is forbidden: User "{user}" cannot list resource "events" in API group "" at the cluster scope'
            )
            wait_for(lambda: denied in cluster.rbac.denied, 30, what="the events list denied")
            wait_for(lambda: "events: not allowed to list (HTTP 403)" in proc.log(), 30, what="the operator's warning")
            assert proc.alive
        finally:
            proc.stop()


def test_namespace_patterns_under_the_charts_namespaced_rbac_are_refused_at_startup(tmp_path: pathlib.Path) -> None:
    """The chart's namespaced RBAC (Roles per namespace) with a `--namespace` glob: the informers would list Jobs
    and Pods cluster-wide and get 403 forever; the operator refuses to start, naming the problem."""
    docs = render(f"watchNamespaces={{{WORKLOAD}}}")
    args = tuple(a for a in chart_args(docs) if not a.startswith("--namespace"))
    with EmulatedCluster(crd_paths=CRDS, namespaces=(RELEASE_NAMESPACE, WORKLOAD)) as cluster:
        cluster.rbac.load(docs)
        cluster.rbac.serviceaccount(OPERATOR_TOKEN, RELEASE_NAMESPACE, RELEASE)
        operator_config = cluster.write_kubeconfig(tmp_path / "operator", token=OPERATOR_TOKEN)
        extra = (*args, "--namespace", "team-*", "--lease-namespace", RELEASE_NAMESPACE)
        proc = OperatorProcess(operator_config, tmp_path / "operator.log", extra_args=extra).start()
        assert proc.proc is not None
        assert proc.proc.wait(timeout=60) == 2
        assert "listing jobs and pods cluster-wide is forbidden (HTTP 403" in proc.log()
        assert any(
            'cannot list resource "jobs" in API group "batch" at the cluster scope' in d for d in cluster.rbac.denied
        )
