"""Two operator shards (`--shard-label`, each with its own leader Lease) on one namespace: no Workflow is
handled by both, none by neither when it carries a shard label, and an unlabelled one by none."""

from __future__ import annotations

import pathlib
import re
import urllib.request
from collections.abc import Iterator

import kubernetes
import pytest

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

WORKFLOWS = 20


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    """Outside the session operator's `t-*`: only the two shards act here."""
    return new_namespace(kubeconfig, "shard")


@pytest.fixture
def shards(kubeconfig: pathlib.Path, namespace: str, tmp_path: pathlib.Path) -> Iterator[dict[str, OperatorProcess]]:
    procs = {
        shard: OperatorProcess(
            kubeconfig,
            tmp_path / f"operator-{shard}.log",
            namespaces=(namespace,),
            extra_args=(
                "--shard-label",
                f"example.com/shard={shard}",
                "--leader-election",
                "--lease-name",
                f"switchyard-shard-{shard}",
                "--lease-namespace",
                namespace,
            ),
        ).start()
        for shard in ("a", "b")
    }
    try:
        for proc in procs.values():
            proc.wait_ready(timeout=60)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def phase_counts(proc: OperatorProcess, namespace: str) -> dict[str, float]:
    """The shard's `switchyard_workflows{namespace, phase}` gauge."""
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = rf'^switchyard_workflows\{{namespace="{re.escape(namespace)}",phase="(\w+)"\}} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


def test_two_shards_split_the_workflows_and_never_share_one(
    kube: Kube, namespace: str, shards: dict[str, OperatorProcess], kubeconfig: pathlib.Path
) -> None:
    kube.component("proc")
    owner = {f"wf-{i}": "ab"[i % 2] for i in range(WORKFLOWS)}
    nodes = [{"name": "a", "component": "proc"}, {"name": "b", "component": "proc", "dependsOn": ["a"]}]
    with JobSimulator(kubeconfig, namespace=namespace, delay=0.05):
        for name, shard in owner.items():
            kube.create("Workflow", name, {"input": {"data": "x"}, "nodes": nodes}, {"example.com/shard": shard})
        kube.create("Workflow", "nobody", {"input": {"data": "x"}, "nodes": nodes}, {"example.com/shard": "c"})
        for name in owner:
            kube.wait_phase(name, "Succeeded", timeout=120)
        for shard, proc in shards.items():
            wait_for(
                lambda p=proc: phase_counts(p, namespace).get("Succeeded") == WORKFLOWS / 2,
                30,
                what=f"shard {shard} counts {WORKFLOWS // 2} Succeeded",
            )
            counts = phase_counts(proc, namespace)
            assert sum(counts.values()) == WORKFLOWS / 2, (shard, counts)  # nothing of the other shard
    for shard, proc in shards.items():
        assert proc.alive, proc.log()[-3000:]
        # One Workflow daemon ran to completion per Workflow of the shard, none for the others.
        assert proc.log().count("Daemon 'run_workflow' succeeded") == WORKFLOWS / 2, shard
    # Each Workflow carries the finalizer once (added by its shard alone), and Jobs only for its own nodes.
    for name in owner:
        assert kube.get("Workflow", name)["metadata"].get("finalizers", []).count("switchyard.dev/finalizer") <= 1
    jobs = [j.metadata.labels["switchyard.dev/workflow"] for j in kube.jobs()]
    assert sorted(jobs) == sorted(name for name in owner for _ in nodes)
    assert "phase" not in kube.status("Workflow", "nobody")
    assert not kube.get("Workflow", "nobody")["metadata"].get("finalizers")
    # One Lease per shard, each held by its own operator.
    leases = kubernetes.client.CoordinationV1Api(kube.client)
    for shard in shards:
        holder = leases.read_namespaced_lease(f"switchyard-shard-{shard}", namespace).spec.holder_identity
        assert holder, f"shard {shard} holds its own Lease"
