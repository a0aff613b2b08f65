"""Data through the DAG: the real operator, the local runner (real processes) and the real S3 server (moto).

Each test runs in its own namespace with a `default` ArtifactStore over the session's S3 server; the
Components are the built-in processors (the switchyard image, which the local runner runs), so every byte
goes through stage-in, the processor and stage-out as in a cluster.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from minio import Minio

from switchyard.sandbox.localjobs import LocalExecutor, LocalJobRunner
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube, new_namespace, wait_for
from tests.emulated.storehelpers import make_store
from tests.emulated.storehelpers import put as _put

pytestmark = pytest.mark.emulated


@pytest.fixture
def runner(kubeconfig: pathlib.Path, namespace: str, running_operator: Any) -> Iterator[LocalJobRunner]:
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=3) as job_runner:
        yield job_runner
    assert not job_runner.errors


@pytest.fixture
def store(kube: Kube, s3_server: S3Server) -> Minio:
    """The namespace's `default` ArtifactStore (and its Secret); the built-in processors as Components."""
    return make_store(kube, s3_server)


def _workflow(kube: Kube, name: str, input_: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    kube.create("Workflow", name, {"input": input_, "nodes": nodes})


def _secrets(server: S3Server) -> tuple[str, str]:
    return server.access_key, server.secret_key


def _assert_no_credentials(kube: Kube, workflow: str, server: S3Server) -> None:
    """Neither key appears in any Pod, Job, the Workflow (status included) or an Event; the main container
    gets no Secret at all."""
    api = kube.core.api_client
    pods = kube.core.list_namespaced_pod(kube.namespace).items
    objects: list[Any] = [api.sanitize_for_serialization(p) for p in pods]
    objects += [api.sanitize_for_serialization(j) for j in kube.jobs()]
    objects += [kube.get("Workflow", workflow)]
    objects += [api.sanitize_for_serialization(e) for e in kube.core.list_namespaced_event(kube.namespace).items]
    text = json.dumps(objects)
    for secret in _secrets(server):
        assert secret not in text
    for pod in objects[: len(pods)]:
        main = pod["spec"]["containers"][0]
        assert "secretKeyRef" not in json.dumps(main)
        for init in pod["spec"]["initContainers"]:
            assert init["securityContext"]["runAsNonRoot"] is True
            assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert init["securityContext"]["allowPrivilegeEscalation"] is False
            assert init["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_chunks_flow_through_a_three_node_dag_verified_and_recorded(
    kube: Kube, store: Minio, s3_server: S3Server, runner: LocalJobRunner
) -> None:
    numbers = list(range(1, 5001))
    data = "".join(f"{n}\n" for n in numbers).encode()
    _put(store, s3_server.bucket, "inputs/numbers.txt", data)
    nodes = [
        {"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 4000, "lines": True}},
        {"name": "sum", "component": "numeric-processor", "dependsOn": ["chunk"]},
        {"name": "check", "component": "data-validator", "dependsOn": ["sum"]},
    ]
    _workflow(kube, "flow", {"artifact": {"key": "inputs/numbers.txt"}}, nodes)
    status = kube.wait_phase("flow", "Succeeded", "Failed", timeout=120)
    assert status["phase"] == "Succeeded", status
    chunk = status["nodes"]["chunk"]
    names = [a["name"] for a in chunk["artifacts"]]
    assert names[0] == "chunk-00000" and len(names) == len(data) // 4000 + 1
    assert chunk["artifactBytes"] == len(data)
    whole = b""
    for artifact in chunk["artifacts"]:  # each recorded digest is the stored object's
        body = store.get_object(s3_server.bucket, artifact["key"]).read()
        assert artifact["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
        assert artifact["size"] == len(body)
        whole += body
    assert whole == data
    assert chunk["artifactManifest"].endswith("/chunk/1.manifest.json")
    summary = json.loads(kube.configmap(status["outputs"][0])["sum"])
    assert summary["count"] == len(numbers) and summary["sum"] == sum(numbers)  # it read the chunks, not the input
    inputs = [
        c for c in kube.core.list_namespaced_config_map(kube.namespace).items if c.metadata.name.endswith("input")
    ]
    assert all(not (c.data or {}).get("input") for c in inputs)  # nothing of the input artifact is in etcd
    _assert_no_credentials(kube, "flow", s3_server)


def test_a_missing_input_artifact_makes_the_workflow_invalid(kube: Kube, store: Minio, runner: LocalJobRunner) -> None:
    _workflow(kube, "nothing", {"artifact": {"key": "no/such/key"}}, [{"name": "a", "component": "data-validator"}])
    status = kube.wait_phase("nothing", "Invalid", timeout=30)
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["reason"] == "ArtifactNotFound"
    assert "no/such/key" in valid["message"]
    assert not kube.jobs()


def test_an_artifact_workflow_without_a_store_is_invalid(kube: Kube, running_operator: Any) -> None:
    _workflow(kube, "storeless", {"artifact": {"key": "x"}}, [{"name": "a", "component": "data-validator"}])
    status = kube.wait_phase("storeless", "Invalid", timeout=30)
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["reason"] == "ArtifactStoreNotFound"
    assert "ArtifactStore 'default' not found" in valid["message"]


class TamperingExecutor(LocalExecutor):
    """The local runner's executor, calling `before(node)` before it runs a node's Pod (the test's hand between
    nodes)."""

    before: Any = None

    def launch(self, run: Any, deadline: float | None) -> None:
        if self.before is not None and run.job.node:
            self.before(run.job.node, run.job.body)
        super().launch(run, deadline)


def _stage_in_upstream_manifest(job: dict[str, Any], dep: str) -> str:
    args = job["spec"]["template"]["spec"]["initContainers"][0]["args"]
    return next(v for v in args if v.startswith(f"{dep}=")).removeprefix(f"{dep}=")


@pytest.mark.parametrize("damage", ["ArtifactCorrupt", "ArtifactMissing"])
def test_a_bad_upstream_object_is_never_passed_on_and_its_producer_runs_again(
    kube: Kube, store: Minio, s3_server: S3Server, kubeconfig: pathlib.Path, running_operator: Any, damage: str
) -> None:
    data = b"alpha\nbeta\ngamma\n" * 100
    _put(store, s3_server.bucket, "inputs/text.txt", data)
    manifests: list[str] = []

    def spoil(node: str, job: dict[str, Any]) -> None:
        if node == "check" and job["metadata"]["labels"]["switchyard.dev/attempt"] == "1":
            # chunk has succeeded: its first chunk is changed (or deleted) behind its manifest's back
            manifests.append(_stage_in_upstream_manifest(job, "chunk"))
            manifest = json.loads(store.get_object(s3_server.bucket, manifests[0]).read())
            if damage == "ArtifactCorrupt":
                _put(store, s3_server.bucket, manifest["artifacts"][0]["key"], b"tampered bytes")
            else:
                store.remove_object(s3_server.bucket, manifest["artifacts"][0]["key"])
        elif node == "check":
            manifests.append(_stage_in_upstream_manifest(job, "chunk"))

    nodes = [
        {"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 500, "lines": True}},
        {"name": "check", "component": "data-validator", "dependsOn": ["chunk"]},
    ]
    tampering = TamperingExecutor(workers=2)
    tampering.before = spoil
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2, executor=tampering) as runner:
        _workflow(kube, "tamper", {"artifact": {"key": "inputs/text.txt"}}, nodes)
        status = kube.wait_phase("tamper", "Failed", "Succeeded", timeout=120)
    assert not runner.errors
    chunk, check = status["nodes"]["chunk"], status["nodes"]["check"]
    assert status["phase"] == "Succeeded", status["nodes"]
    assert chunk["attempts"] == 2 and check["attempts"] == 2  # the producer ran again, then the consumer
    assert all(a["key"].split("/")[-2] == "2" for a in chunk["artifacts"])  # the second run's own keys
    assert manifests == [manifests[0], chunk["artifactManifest"]] and manifests[0] != manifests[1]
    whole = b"".join(store.get_object(s3_server.bucket, a["key"]).read() for a in chunk["artifacts"])
    assert whole == data
    rerun = kube.wait_event("tamper", "UpstreamRerun").message
    assert damage in rerun and "node chunk runs again" in rerun
    for name in ("data-validator", "chunking-processor"):  # never charged to a breaker
        component = kube.status("Component", name)
        assert (component.get("breaker") or {}).get("consecutiveFailures", 0) == 0
    first = next(
        p
        for p in kube.core.list_namespaced_pod(kube.namespace).items
        if p.metadata.labels["switchyard.dev/node"] == "check" and p.metadata.labels["switchyard.dev/attempt"] == "1"
    )
    # the validator itself never ran on the bad data: stage-in stopped the Pod, naming the dependency
    assert all(cs.state.terminated is None for cs in first.status.container_statuses or [])
    stage_in = first.status.init_container_statuses[0]
    assert stage_in.name == "stage-in" and stage_in.state.terminated.exit_code == 1
    assert stage_in.state.terminated.message.startswith(f"{damage}: upstream chunk: ")


def test_a_store_down_mid_run_is_unavailable_then_succeeds_when_back(
    kube: Kube, store: Minio, s3_server: S3Server, kubeconfig: pathlib.Path, running_operator: Any
) -> None:
    _put(store, s3_server.bucket, "inputs/down.txt", b"1\n2\n3\n" * 200)
    kube.create(
        "Component",
        "strict-numeric",
        {"image": "switchyard:0.1.0", "command": ["python", "-m", "switchyard.processors", "numeric-processor"],
         "retry": {"limit": 0}},
    )  # fmt: skip
    nodes = [
        {"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 300, "lines": True}},
        {"name": "sum", "component": "strict-numeric", "dependsOn": ["chunk"]},
    ]

    def outage(node: str, job: dict[str, Any]) -> None:
        if node == "sum" and job["metadata"]["labels"]["switchyard.dev/attempt"] == "1":
            s3_server.down()  # after chunk uploaded its chunks, before sum fetches them

    tampering = TamperingExecutor(workers=2)
    tampering.before = outage
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2, executor=tampering) as runner:
        try:
            _workflow(kube, "outage", {"artifact": {"key": "inputs/down.txt"}}, nodes)
            retrying = wait_for(
                lambda: (
                    (n := kube.status("Workflow", "outage").get("nodes", {}).get("sum", {})).get("reason")
                    == "ArtifactStoreUnavailable"
                    and n
                ),
                120,
                what="sum to meet the store's outage",
            )
            assert retrying["phase"] == "Retrying"  # although its Component allows no retry
        finally:
            s3_server.up()
        status = kube.wait_phase("outage", "Succeeded", "Failed", timeout=180)
    assert not runner.errors
    assert status["phase"] == "Succeeded", status["nodes"]["sum"]
    assert status["nodes"]["sum"]["attempts"] >= 2
    summary = json.loads(kube.configmap(status["outputs"][0])["sum"])
    assert summary["sum"] == 6 * 200
    component = kube.status("Component", "strict-numeric")
    assert (component.get("breaker") or {}).get("consecutiveFailures", 0) == 0  # never charged to the breaker


@pytest.fixture(scope="module")
def capped_operator(kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """An operator of its own (namespaces `cap-*`) with small output caps: 4,000 bytes a node, 5,000 a Workflow."""
    log = tmp_path_factory.mktemp("capped-operator") / "operator.log"
    args = ("--max-node-output-bytes", "4000", "--max-workflow-output-bytes", "5000")
    proc = OperatorProcess(kubeconfig, log, namespaces=("cap-*",), extra_args=args).start()
    proc.wait_ready()
    yield proc
    proc.stop()


def test_outputs_over_the_caps_fail_the_node_at_once(
    kubeconfig: pathlib.Path, capped_operator: OperatorProcess, s3_server: S3Server
) -> None:
    kube = Kube(kubeconfig, new_namespace(kubeconfig, "cap"))
    client = make_store(kube, s3_server)
    _put(client, s3_server.bucket, "inputs/small.txt", b"x" * 3000)
    _put(client, s3_server.bucket, "inputs/big.txt", b"y" * 5000)
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2) as runner:
        # per node: 5,000 bytes of chunks from one node; stage-out refuses before uploading anything
        _workflow(kube, "node-cap", {"artifact": {"key": "inputs/big.txt"}},
                  [{"name": "chunk", "component": "chunking-processor", "config": {"chunkSize": 1000}}])  # fmt: skip
        # per Workflow: two nodes of 3,000 bytes each; the second one takes it past 5,000
        _workflow(kube, "wf-cap", {"artifact": {"key": "inputs/small.txt"}},
                  [{"name": "one", "component": "chunking-processor", "config": {"chunkSize": 1000}},
                   {"name": "two", "component": "chunking-processor", "config": {"chunkSize": 1000},
                    "dependsOn": ["one"]}])  # fmt: skip
        node_cap = kube.wait_phase("node-cap", "Failed", "Succeeded", timeout=120)
        wf_cap = kube.wait_phase("wf-cap", "Failed", "Succeeded", timeout=120)
    assert not runner.errors
    chunk = node_cap["nodes"]["chunk"]
    assert (chunk["phase"], chunk["reason"], chunk["attempts"]) == ("Failed", "OutputTooLarge", 1), chunk
    assert "4000" in chunk["message"]
    prefix = f"workflows/{kube.namespace}/node-cap/"
    assert not list(client.list_objects(s3_server.bucket, prefix=prefix, recursive=True))  # nothing uploaded
    one, two = wf_cap["nodes"]["one"], wf_cap["nodes"]["two"]
    assert one["phase"] == "Succeeded" and one["artifactBytes"] == 3000
    assert (two["phase"], two["reason"], two["attempts"]) == ("Failed", "OutputTooLarge", 1), two
    assert "5000" in two["message"]
