"""An operator that watches namespace patterns serves a matching namespace created while it starts.

kopf (1.45) learns the namespaces in two steps: a list, then a watcher that lists again and watches from
there, ignoring what that second list shows. A namespace created between the two lists was never served
until a restart. The operator now keeps its own namespace watch (`k8s/namespaces.py`); this test forces the
gap open: the second namespace list gets 429 with Retry-After, and the namespace is created meanwhile.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

CRDS = sorted((pathlib.Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))


def test_namespace_created_between_kopfs_two_lists_is_served(tmp_path: pathlib.Path) -> None:
    with EmulatedCluster(crd_paths=CRDS) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        gap = cluster.faults.inject(
            method="GET", path_regex=r"^/api/v1/namespaces$", status=429, retry_after=3, times=1, after=1
        )
        proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=("late-*",)).start()
        try:
            wait_for(lambda: gap.hits == 1, 60, what="the operator's second namespace list (held off by 429)")
            kube = Kube(kubeconfig, new_namespace(kubeconfig, "late"))  # inside the gap
            proc.wait_ready(timeout=60)
            with JobSimulator(kubeconfig, rule=lambda job: Outcome()):
                kube.component("proc")
                kube.create("Workflow", "w", {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "proc"}]})
                kube.wait_phase("w", "Succeeded", timeout=60)
            assert proc.alive
        finally:
            proc.stop()


def test_namespace_patterns_follow_kopfs_syntax_for_jobs_too(tmp_path: pathlib.Path) -> None:
    """`--namespace "neg-*,!neg-skip-*"` (kopf's comma list with a negation): the Jobs and Pods informers take
    the same namespaces as kopf does. They used `fnmatch` on the whole string, which matches no namespace: the
    runner saw its Job only by asking the API for it (after `MISSING_GRACE`, on a 30 s full pass)."""
    with EmulatedCluster(crd_paths=CRDS) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        served = Kube(kubeconfig, new_namespace(kubeconfig, "neg"))
        skipped = Kube(kubeconfig, new_namespace(kubeconfig, "neg-skip"))
        proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=("neg-*,!neg-skip-*",)).start()
        try:
            proc.wait_ready(timeout=60)
            with JobSimulator(kubeconfig, rule=lambda job: Outcome()):
                for kube in (served, skipped):
                    kube.component("proc")
                    nodes = [{"name": "a", "component": "proc"}, {"name": "b", "component": "proc", "dependsOn": ["a"]}]
                    kube.create("Workflow", "w", {"input": {"data": "x"}, "nodes": nodes})
                served.wait_phase("w", "Succeeded", timeout=90)
            assert skipped.status("Workflow", "w") == {} and skipped.jobs() == []  # not this operator's namespace
            job_reads = [
                r.url.path for r in cluster.api if r.method == "GET" and re.search(r"/jobs/[^/]+$", r.url.path)
            ]
            assert job_reads == []  # the informer told the runner about each Job: no GET of one was needed
            assert proc.alive
        finally:
            proc.stop()


def test_namespace_patterns_without_cluster_wide_rbac_are_refused_at_startup(tmp_path: pathlib.Path) -> None:
    """Patterns make the informers watch all namespaces; with only namespaced RBAC that is 403 forever and no
    Workflow would ever start. The operator says so and exits at once instead. Exact names are not affected."""
    with EmulatedCluster(crd_paths=CRDS) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        forbidden = cluster.faults.inject(
            method="GET",
            path_regex=r"^/(apis/batch/v1/jobs|api/v1/pods)$",
            status=403,
            times=None,
            message='jobs.batch is forbidden: User "system:serviceaccount:sy:switchyard" cannot list resource '
            '"jobs" in API group "batch" at the cluster scope',
        )
        proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=("team-*",)).start()
        assert proc.proc is not None
        assert proc.proc.wait(timeout=60) == 2
        log = proc.log()
        assert "error: --namespace team-* holds a pattern" in log
        assert "listing jobs and pods cluster-wide is forbidden (HTTP 403" in log and "exact name" in log
        assert forbidden.hits == 2

        exact = OperatorProcess(kubeconfig, tmp_path / "exact.log", namespaces=("team-a",)).start()
        try:
            exact.wait_ready(timeout=60)  # per-namespace lists: nothing cluster-wide asked
            assert exact.alive and forbidden.hits == 2
        finally:
            exact.stop()
