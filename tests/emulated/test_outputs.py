"""Outputs reach their ConfigMap before anything depends on them, and in few writes.

A node's output is held back until a status write (which may call the node done) or the creation of a Job that
mounts it, so the nodes that finish between two such moments share one ConfigMap patch. The order is what
matters for correctness: this test reads it from the emulated API's request log.
"""

from __future__ import annotations

from typing import Any

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube


def test_outputs_are_written_before_status_or_dependents_read_them_in_few_patches(
    emulated_cluster: EmulatedCluster, kube: Kube, sim: JobSimulator, running_operator: OperatorProcess
) -> None:
    leaves = [f"leaf{i}" for i in range(1, 7)]
    delays = {"a": 0.05, "b": 0.3, "c": 0.05, **{leaf: 0.1 * i for i, leaf in enumerate(leaves, 1)}}
    seen: dict[str, dict[str, str]] = {}

    def rule(job: SimJob) -> Outcome:
        node = job.node or ""
        seen[node] = {path.rsplit("/", 1)[-1]: text for path, text in job.files.items() if "/upstream/" in path}
        return Outcome(message=f"out-{node}", delay=delays[node])

    sim.rule = rule
    kube.component("proc")
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "proc", "dependsOn": ["a"]},
        {"name": "c", "component": "proc", "dependsOn": ["a", "b"]},
        *({"name": leaf, "component": "proc"} for leaf in leaves),
    ]
    kube.create("Workflow", "outs", {"input": {"data": "x"}, "nodes": nodes})
    status = kube.wait_phase("outs", "Succeeded", timeout=60)

    (cm,) = status["outputs"]
    assert kube.configmap(cm) == {node: f"out-{node}" for node in delays}
    assert seen["b"] == {"a": "out-a"} and seen["c"] == {"a": "out-a", "b": "out-b"}
    assert sim.errors == []  # no Pod mounted a key that was not there

    writes: list[tuple[int, set[str]]] = []  # (request id, nodes whose output it wrote)
    done_in_status: dict[str, int] = {}  # node -> the first status write calling it Succeeded
    for request in emulated_cluster.api:
        if request.namespace != kube.namespace or request.method.name not in ("POST", "PATCH"):
            continue
        body: Any = request.data if isinstance(request.data, dict) else {}
        plural = request.resource.plural if request.resource is not None else None
        if plural == "configmaps" and (request.name == cm or (body.get("metadata") or {}).get("name") == cm):
            writes.append((request.id, set(body.get("data") or {})))
        elif plural == "workflows" and request.name == "outs" and request.subresource == "status":
            for node, state in ((body.get("status") or {}).get("nodes") or {}).items():
                if state.get("phase") == "Succeeded":
                    done_in_status.setdefault(node, request.id)
    assert set(done_in_status) == set(delays)
    for node, when in done_in_status.items():
        written = [i for i, keys in writes if node in keys]
        assert written and written[0] < when, f"{node}: status called it done before its output was written"
    patches = [keys for _, keys in writes if keys]
    assert sum(len(keys) for keys in patches) == len(delays)  # each output written once
    assert len(patches) <= 5, patches  # one per pass would be ~9: the leaves finish 0.1 s apart
