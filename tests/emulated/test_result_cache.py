"""The result cache (`Component.spec.cache`) with the real operator, the local runner and the real S3 server.

A second Workflow of the same work in the namespace runs no Job for its cache-enabled nodes: they are
Succeeded with reason Cached and the first run's artifacts and result, and a node after them stages those in
as usual. A changed config is a miss; an entry whose objects are gone is a miss (the node runs), never a
failure. `switchyard get` marks the cached nodes.
"""

from __future__ import annotations

import json
import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from minio import Minio

from switchyard.artifacts import cache
from switchyard.artifacts import manifest as mf
from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.cli import tree, view
from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import Kube
from tests.emulated.storehelpers import make_store, put

pytestmark = pytest.mark.emulated
NUMBERS = range(1, 3001)
DATA = "".join(f"{n}\n" for n in NUMBERS).encode()


def _nodes(chunk_size: int) -> list[dict[str, Any]]:
    return [
        {"name": "chunk", "component": "cached-chunk", "config": {"chunkSize": chunk_size, "lines": True}},
        {"name": "sum", "component": "cached-sum", "dependsOn": ["chunk"]},
        {"name": "check", "component": "data-validator", "dependsOn": ["sum"]},  # not cached: always runs
    ]


def _run(kube: Kube, name: str, chunk_size: int = 2000) -> dict[str, Any]:
    kube.create("Workflow", name, {"input": {"artifact": {"key": "inputs/cache.txt"}}, "nodes": _nodes(chunk_size)})
    status = kube.wait_phase(name, "Succeeded", "Failed", timeout=120)
    assert status["phase"] == "Succeeded", status["nodes"]
    return status


def _jobs_of(kube: Kube, workflow: str) -> list[str]:
    return sorted(
        j.metadata.labels["switchyard.dev/node"]
        for j in kube.jobs()
        if j.metadata.labels.get("switchyard.dev/workflow") == workflow
    )


def _sum(kube: Kube, status: dict[str, Any]) -> dict[str, Any]:
    return json.loads(next(v for n in status["outputs"] if (v := kube.configmap(n).get("sum"))))


def test_a_hit_runs_no_job_a_changed_config_or_gone_objects_miss(
    kube: Kube, s3_server: S3Server, kubeconfig: pathlib.Path, running_operator: Any
) -> None:
    client: Minio = make_store(kube, s3_server)
    put(client, s3_server.bucket, "inputs/cache.txt", DATA)
    for name, processor in (("cached-chunk", "chunking-processor"), ("cached-sum", "numeric-processor")):
        kube.create(
            "Component",
            name,
            {"image": "switchyard:0.1.0", "command": ["python", "-m", "switchyard.processors", processor],
             "cache": {"enabled": True, "version": "1"}},
        )  # fmt: skip
    with LocalJobRunner(kubeconfig, namespace=kube.namespace, workers=2) as runner:
        first = _run(kube, "first")
        second = _run(kube, "second")
        changed = _run(kube, "changed", chunk_size=3000)
        # the first run's objects go (as when its Workflow is collected): its entry is a miss now
        uid = kube.get("Workflow", "first")["metadata"]["uid"]
        for o in client.list_objects(
            s3_server.bucket, prefix=f"workflows/{kube.namespace}/first/{uid}/", recursive=True
        ):
            client.remove_object(s3_server.bucket, o.object_name)
        gone = _run(kube, "gone")
    assert not runner.errors
    assert _jobs_of(kube, "first") == ["check", "chunk", "sum"]
    assert all(first["nodes"][n].get("reason") is None for n in ("chunk", "sum"))
    # the hit: no Job for the cached nodes, reason Cached, the first run's artifacts and result
    assert _jobs_of(kube, "second") == ["check"]
    for node in ("chunk", "sum"):
        hit = second["nodes"][node]
        assert (hit["phase"], hit["reason"]) == ("Succeeded", "Cached"), hit
        assert hit["artifacts"] == first["nodes"][node]["artifacts"]
        assert hit["artifactManifest"].startswith(f"workflows/{kube.namespace}/second/")  # its own manifest
    assert _sum(kube, second) == _sum(kube, first)
    assert _sum(kube, second)["sum"] == sum(NUMBERS)
    assert second["nodes"]["check"]["phase"] == "Succeeded" and second["nodes"]["check"].get("reason") is None
    text = tree.nodes_table(view.build(kube.get("Workflow", "second")), datetime.now(UTC)).plain
    assert text.count("Succeeded (cached)") == 2  # `switchyard get` marks them
    # a changed config: chunk misses, and so does sum (its upstream artifacts differ)
    assert _jobs_of(kube, "changed") == ["check", "chunk", "sum"]
    assert all(changed["nodes"][n].get("reason") is None for n in ("chunk", "sum"))
    assert _sum(kube, changed)["sum"] == sum(NUMBERS)
    # gone objects: chunk runs again (never a failure); so does sum, whose entry's objects were the first's too
    assert _jobs_of(kube, "gone") == ["check", "chunk", "sum"]
    assert gone["nodes"]["chunk"].get("reason") is None
    assert _sum(kube, gone)["sum"] == sum(NUMBERS)


def test_an_entry_is_a_miss_once_older_than_max_age_or_without_its_objects(s3_server: S3Server) -> None:
    spec = StoreSpec.model_validate({"endpoint": s3_server.host, "bucket": s3_server.bucket, "insecure": True,
                                     "region": s3_server.region, "prefix": "cache-unit/",
                                     "credentialsSecretRef": {"name": "x"}})  # fmt: skip
    mc = make_client(spec, Credentials(s3_server.access_key, s3_server.secret_key))
    put(mc, spec.bucket, "cache-unit/w/a/1/out", b"abc")
    entries = (mf.Entry("out", "cache-unit/w/a/1/out", 3, "sha256:" + "0" * 64),)
    put(mc, spec.bucket, "cache-unit/w/a/1.manifest.json", mf.Manifest("uid", "a", 1, entries).dumps())
    made = datetime(2026, 1, 1, tzinfo=UTC)
    cache.store(mc, spec, "ns", "k1", result='{"ok":1}', manifest_key="cache-unit/w/a/1.manifest.json",
                workflow="w", node="a", now=made)  # fmt: skip
    found = cache.lookup(mc, spec, "ns", "k1", made + timedelta(seconds=50), 60)
    assert found is not None and found.result == '{"ok":1}' and found.manifest.entries == entries
    assert cache.lookup(mc, spec, "ns", "k1", made + timedelta(seconds=61), 60) is None  # too old
    assert cache.lookup(mc, spec, "ns", "k1", made + timedelta(days=400), None) is not None  # no maxAge
    assert cache.lookup(mc, spec, "other-ns", "k1", made, None) is None  # namespace-scoped
    mc.remove_object(spec.bucket, "cache-unit/w/a/1/out")
    assert cache.lookup(mc, spec, "ns", "k1", made, None) is None  # its object gone: a miss
