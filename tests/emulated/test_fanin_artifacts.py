"""Artifacts through a fan-in and through `spec.reuse`: a node depending on a forEach node stages every instance's
output artifacts at `upstream/NODE/<i>/<name>` (one fan-in manifest in the store, one stage-in argument), a bad
instance artifact reruns that instance, and a node reused from an old run brings its artifacts. The real
operator, the local runner (real processes through stage-in and stage-out) and the real S3 server."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from minio import Minio

from switchyard.artifacts import fanin
from switchyard.artifacts import manifest as mf
from switchyard.cli.actions import retry_body
from switchyard.logic import naming
from switchyard.sandbox.localjobs import LocalExecutor, LocalJobRunner
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube
from tests.emulated.storehelpers import make_store
from tests.emulated.storehelpers import put as _put

pytestmark = pytest.mark.emulated

ITEMS = ["alpha-0\n", "bravo-1 \u2603", "charlie-2 " * 50]  # distinct bytes per instance

# A map instance writes its item's text as outputs/part-<i>.txt; its result is its index. With config
# {"failIn": W, "failIndex": i} instance i fails in Workflow W.
MAP = """
import json, os, pathlib, sys
root = pathlib.Path(os.environ.get("SWITCHYARD_ROOT", "/switchyard"))
i = int(os.environ["SWITCHYARD_ITEM_INDEX"])
config = json.loads((root / "config.json").read_text() or "{}")
if config.get("failIn") == os.environ["SWITCHYARD_WORKFLOW"] and config.get("failIndex") == i:
    sys.exit(1)
item = json.loads((root / "item").read_text())
(root / "outputs" / f"part-{i}.txt").write_bytes(item.encode())
pathlib.Path(os.environ.get("SWITCHYARD_TERMINATION_LOG", "/dev/termination-log")).write_text(json.dumps({"i": i}))
"""

# The merge reads upstream/map/<i>/part-<i>.txt in index order and reports what it saw (and every file there);
# with config {"failIn": W} it fails in Workflow W (a consumer that fails once: its retry succeeds).
MERGE = """
import json, os, pathlib, sys
root = pathlib.Path(os.environ.get("SWITCHYARD_ROOT", "/switchyard"))
log = pathlib.Path(os.environ.get("SWITCHYARD_TERMINATION_LOG", "/dev/termination-log"))
config = json.loads((root / "config.json").read_text() or "{}") if (root / "config.json").is_file() else {}
if config.get("failIn") == os.environ["SWITCHYARD_WORKFLOW"]:
    log.write_text("failing as configured")
    sys.exit(1)
source = config.get("from", "map")
up = root / "upstream" / source
if source == "map":
    results = json.loads((up / "results.json").read_text())
    parts = [(up / str(i) / f"part-{i}.txt").read_bytes().hex() for i in range(len(results))]
else:
    results, parts = None, [(up / "part.txt").read_bytes().hex()]
files = sorted(p.relative_to(up).as_posix() for p in up.rglob("*") if p.is_file())
log.write_text(json.dumps({"parts": parts, "files": files, "results": results}))
"""

# A producer of one artifact, outputs/part.txt (its config's text).
PRODUCE = """
import json, os, pathlib
root = pathlib.Path(os.environ.get("SWITCHYARD_ROOT", "/switchyard"))
config = json.loads((root / "config.json").read_text())
(root / "outputs" / "part.txt").write_text(config["text"])
pathlib.Path(os.environ.get("SWITCHYARD_TERMINATION_LOG", "/dev/termination-log")).write_text('{"ok": true}')
"""


class HookedExecutor(LocalExecutor):
    """The local runner's executor, calling `before(node, job)` before it runs a node's Pod."""

    before: Any = None

    def launch(self, run: Any, deadline: float | None) -> None:
        if self.before is not None and run.job.node:
            self.before(run.job.node, run.job.body)
        super().launch(run, deadline)


@pytest.fixture
def store(kube: Kube, s3_server: S3Server) -> Minio:
    client = make_store(kube, s3_server)
    for name, script in (("mapper", MAP), ("merger", MERGE), ("producer", PRODUCE)):
        # Retried (1 s apart): the local runner does not hold a main container back for stage-out's startupProbe,
        # so a script this quick can exit before stage-out listens for its SIGTERM (no manifest: ArtifactMissing).
        retry = {"limit": 2, "backoff": {"initialSeconds": 1, "factor": 1, "maxSeconds": 1}}
        kube.create(
            "Component", name, {"image": "switchyard:0.1.0", "command": ["python", "-c", script], "retry": retry}
        )
    return client


@pytest.fixture
def runner(kubeconfig: pathlib.Path, namespace: str, running_operator: Any) -> Iterator[LocalJobRunner]:
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=3) as job_runner:
        yield job_runner
    assert not job_runner.errors


def _nodes(
    merge_config: dict[str, Any] | None = None, map_config: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "name": "map",
            "component": "mapper",
            "forEach": {"items": ITEMS, "maxParallel": 3},
            "config": map_config or {},
        },
        {"name": "merge", "component": "merger", "dependsOn": ["map"], "config": merge_config or {}},
    ]


def _output(kube: Kube, workflow: str, node: str, slots: int) -> Any:
    shards = naming.output_shards(slots)
    return json.loads(kube.configmap(naming.output_configmap(workflow, node, shards))[node])


def _stage_in_args(job: dict[str, Any]) -> list[str]:
    return list(job["spec"]["template"]["spec"]["initContainers"][0]["args"])


def _fan_in_key(args: list[str], dep: str) -> str:
    return next(a for a in args if a.startswith(f"{dep}=") and ".fanin/" in a).removeprefix(f"{dep}=")


def test_the_fan_in_sees_every_instances_artifacts_in_index_order(
    kube: Kube, store: Minio, s3_server: S3Server, runner: LocalJobRunner
) -> None:
    kube.create("Workflow", "fan", {"input": {"data": "x"}, "nodes": _nodes()})
    status = kube.wait_phase("fan", "Succeeded", "Failed", timeout=240)
    assert status["phase"] == "Succeeded", (status.get("message"), status["nodes"])
    merged = _output(kube, "fan", "merge", 2 + 2 * len(ITEMS))
    assert merged["parts"] == [item.encode().hex() for item in ITEMS]
    assert merged["results"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert merged["files"] == [
        "0/part-0.txt", "0/result", "1/part-1.txt", "1/result", "2/part-2.txt", "2/result", "results.json",
    ]  # fmt: skip
    job = next(j for j in kube.jobs() if j.metadata.labels["switchyard.dev/node"] == "merge")
    args = job.spec.template.spec.init_containers[0].args
    assert args.count("--fan-in") == 1 and args[args.index("--upstream") + 1] == "map="  # one argument in all
    listed = fanin.loads(store.get_object(s3_server.bucket, _fan_in_key(args, "map")).read(), dependency="map")
    assert listed.workflow_uid == kube.get("Workflow", "fan")["metadata"]["uid"]
    assert listed.instances == tuple((i, status["nodes"][f"map[{i}]"]["artifactManifest"]) for i in range(3))


def test_a_tampered_instance_artifact_reruns_that_instance_then_the_fan_in(
    kube: Kube, store: Minio, s3_server: S3Server, kubeconfig: pathlib.Path, running_operator: Any
) -> None:
    seen: list[str] = []

    def spoil(node: str, job: dict[str, Any]) -> None:
        if node != "merge":
            return
        key = _fan_in_key(_stage_in_args(job), "map")
        seen.append(key)
        if len(seen) == 1:  # instance 1's artifact changed behind its manifest's back
            listed = fanin.loads(store.get_object(s3_server.bucket, key).read())
            manifest = mf.loads(store.get_object(s3_server.bucket, dict(listed.instances)[1]).read())
            _put(store, s3_server.bucket, manifest.entries[0].key, b"tampered bytes")

    hooked = HookedExecutor(workers=3)
    hooked.before = spoil
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=3, executor=hooked) as runner:
        kube.create("Workflow", "spoiled", {"input": {"data": "x"}, "nodes": _nodes()})
        status = kube.wait_phase("spoiled", "Succeeded", "Failed", timeout=240)
    assert not runner.errors
    nodes = status["nodes"]
    assert status["phase"] == "Succeeded", (status.get("message"), nodes)
    assert nodes["map[1]"]["attempts"] >= 2  # that instance ran again
    assert not nodes["map[1]"]["artifactManifest"].endswith("map[1]/1.manifest.json")  # a later run's own keys
    assert nodes["merge"]["attempts"] >= 2 and len(seen) >= 2 and seen[0] != seen[-1]
    merged = _output(kube, "spoiled", "merge", 2 + 2 * len(ITEMS))
    assert merged["parts"] == [item.encode().hex() for item in ITEMS]
    rerun = kube.wait_event("spoiled", "UpstreamRerun").message
    assert "ArtifactCorrupt" in rerun and "node map[1] runs again" in rerun
    first = next(
        p
        for p in kube.core.list_namespaced_pod(kube.namespace).items
        if p.metadata.labels["switchyard.dev/node"] == "merge" and p.metadata.labels["switchyard.dev/attempt"] == "1"
    )
    stage_in = first.status.init_container_statuses[0]  # the merge never ran on the bad bytes
    assert stage_in.state.terminated.exit_code == 1
    assert stage_in.state.terminated.message.startswith("ArtifactCorrupt: upstream map[1]: ")
    assert all(cs.state.terminated is None for cs in first.status.container_statuses or [])


def test_a_retry_stages_the_reused_producers_artifacts(
    kube: Kube, store: Minio, s3_server: S3Server, runner: LocalJobRunner
) -> None:
    nodes = [
        {"name": "make", "component": "producer", "config": {"text": "made in the first run"}},
        {"name": "use", "component": "merger", "dependsOn": ["make"], "config": {"from": "make", "failIn": "art"}},
    ]
    kube.create("Workflow", "art", {"input": {"data": "x"}, "nodes": nodes})
    first = kube.wait_phase("art", "Failed", "Succeeded", timeout=240)
    assert first["phase"] == "Failed" and first["nodes"]["make"]["phase"] == "Succeeded"
    body = retry_body(kube.get("Workflow", "art"), taken={"art"})
    kube.create("Workflow", body["metadata"]["name"], body["spec"])
    status = kube.wait_phase("art-retry-1", "Succeeded", "Failed", timeout=240)
    assert status["phase"] == "Succeeded", (status.get("message"), status["nodes"])
    make = status["nodes"]["make"]
    assert make["reason"] == "Reused" and make["attempts"] == 0
    used = _output(kube, "art-retry-1", "use", 2)
    assert used["parts"] == [b"made in the first run".hex()]
    # the new run's own copy, under its own uid: the old Workflow's artifactGC cannot take it away
    uid = kube.get("Workflow", "art-retry-1")["metadata"]["uid"]
    assert f"/{uid}/make/" in make["artifactManifest"]
    manifest = mf.loads(store.get_object(s3_server.bucket, make["artifactManifest"]).read(), workflow_uid=uid)
    assert [e.name for e in manifest.entries] == ["part.txt"] and all(f"/{uid}/" in e.key for e in manifest.entries)
    assert make["artifacts"] == [e.wire() for e in manifest.entries]


def test_a_retry_stages_the_reused_instances_artifacts_at_fan_in(
    kube: Kube, store: Minio, s3_server: S3Server, runner: LocalJobRunner
) -> None:
    kube.create(
        "Workflow", "fer", {"input": {"data": "x"}, "nodes": _nodes(map_config={"failIn": "fer", "failIndex": 1})}
    )
    first = kube.wait_phase("fer", "Failed", "Succeeded", timeout=240)
    assert first["phase"] == "Failed" and first["nodes"]["map"]["progress"] == "2/3"
    body = retry_body(kube.get("Workflow", "fer"), taken={"fer"})
    kube.create("Workflow", body["metadata"]["name"], body["spec"])
    status = kube.wait_phase("fer-retry-1", "Succeeded", "Failed", timeout=240)
    nodes = status["nodes"]
    assert status["phase"] == "Succeeded", (status.get("message"), nodes)
    assert [nodes[f"map[{i}]"].get("reason") for i in range(3)] == ["Reused", None, "Reused"]
    uid = kube.get("Workflow", "fer-retry-1")["metadata"]["uid"]
    for i in range(3):  # every instance's manifest is the new run's own (the reused ones copied)
        key = nodes[f"map[{i}]"]["artifactManifest"]
        assert f"/{uid}/map[{i}]/" in key
        manifest = mf.loads(store.get_object(s3_server.bucket, key).read(), workflow_uid=uid)
        assert [e.name for e in manifest.entries] == [f"part-{i}.txt"]
    merged = _output(kube, "fer-retry-1", "merge", 2 + 2 * len(ITEMS))
    assert merged["parts"] == [item.encode().hex() for item in ITEMS]
