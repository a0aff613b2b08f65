"""The fan-in manifest (`artifacts.fanin`) and what stage-in lays out from it, against an in-memory store."""

from __future__ import annotations

import hashlib
import importlib
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from minio.error import S3Error

from switchyard.artifacts import fanin
from switchyard.artifacts import manifest as mf
from switchyard.artifacts.trouble import StagingFailure
from switchyard.k8s.staging import Staging, stage_in_args

_previous = signal.getsignal(signal.SIGTERM)
stage = importlib.import_module("switchyard.artifacts.stage")  # it catches SIGTERM (stage-out's word): not here
signal.signal(signal.SIGTERM, _previous)

UID = "uid-1"
PREFIX = "p/workflows/ns/wf/uid-1/"


class Response:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data

    def stream(self, size: int) -> Any:
        yield self.data

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class MemoryStore:
    """The two calls stage-in makes, on a dict; a missing key is S3's NoSuchKey."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_object(self, bucket: str, key: str, **_: Any) -> Response:
        if key not in self.objects:
            raise S3Error(None, "NoSuchKey", "The specified key does not exist.", key, "r", "h", bucket, key)  # type: ignore[arg-type]
        return Response(self.objects[key])

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def instance_outputs(store: MemoryStore, node: str, files: dict[str, bytes], uid: str = UID) -> str:
    """An attempt's outputs and manifest as stage-out leaves them; the manifest's key."""
    prefix = mf.attempt_prefix(PREFIX, node, 1)
    entries = []
    for name, data in files.items():
        store.put(mf.file_key(prefix, name), data)
        entries.append(mf.Entry(name, mf.file_key(prefix, name), len(data), digest(data)))
    store.put(mf.manifest_key(prefix), mf.Manifest(uid, node, 1, tuple(entries)).dumps())
    return mf.manifest_key(prefix)


def test_the_fan_in_manifest_round_trips_in_index_order_under_the_attempt() -> None:
    built = fanin.build(UID, "merge", 2, "map", [(2, "k2"), (0, "k0"), (1, "k1")])
    assert built.instances == ((0, "k0"), (1, "k1"), (2, "k2"))
    assert fanin.loads(built.dumps(), workflow_uid=UID, dependency="map") == built
    assert built.dumps() == fanin.build(UID, "merge", 2, "map", [(0, "k0"), (1, "k1"), (2, "k2")]).dumps()
    prefix = mf.attempt_prefix(PREFIX, "merge", 2)
    key = fanin.fan_in_key(prefix, "map")
    assert key == "p/workflows/ns/wf/uid-1/merge/2.fanin/map.json"
    assert key.startswith(prefix) and not key.startswith(prefix + "/")  # no output file name can overwrite it


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not readable"),
        (b'{"kind":"Other"}', "not readable"),
        (fanin.FanIn(UID, "m", 1, "map", ((1, "a"), (1, "b"))).dumps(), "distinct"),
        (fanin.FanIn("uid-2", "m", 1, "map", ()).dumps(), "another Workflow"),
        (fanin.FanIn(UID, "m", 1, "other", ()).dumps(), "of node 'other'"),
    ],
)
def test_a_bad_fan_in_manifest_is_a_manifest_error(data: bytes, match: str) -> None:
    with pytest.raises(mf.ManifestError, match=match):
        fanin.loads(data, workflow_uid=UID, dependency="map")


def test_stage_in_gets_one_argument_per_foreach_dependency() -> None:
    staging = Staging(store=None, image="i", workflow_uid=UID, prefix="p", upstream={"map": None}, fan_in={"map": "K"})  # type: ignore[arg-type]
    assert stage_in_args(staging) == ["in", "--workflow-uid", UID, "--upstream", "map=", "--fan-in", "map=K"]


def _meta(root: Path, results: list[str]) -> None:
    """The projected volume of a fan-in Pod: `results.json` and `i/result` per succeeded instance."""
    preview = root.parent / "switchyard-meta" / "upstream" / "map"
    preview.mkdir(parents=True)
    (preview / "results.json").write_text("[" + ",".join(results) + "]")
    for i, result in enumerate(results):
        (preview / str(i)).mkdir()
        (preview / str(i) / "result").write_text(result)


def _stage_in(store: MemoryStore, root: Path, fan_in_key: str) -> None:
    args = stage.parser().parse_args(
        ["in", "--workflow-uid", UID, "--upstream", "map=", "--fan-in", f"map={fan_in_key}"]
    )
    stage.stage_in(store, SimpleNamespace(bucket="b"), args, root)


def test_stage_in_lays_out_each_instances_artifacts_beside_its_result(tmp_path: Path) -> None:
    store = MemoryStore()
    keys = [instance_outputs(store, f"map[{i}]", {f"part-{i}.txt": f"bytes of {i}".encode()}) for i in (0, 2)]
    instance_outputs(store, "map[1]", {})  # wrote nothing: not listed, nothing extra
    fan_in_key = fanin.fan_in_key(mf.attempt_prefix(PREFIX, "merge", 1), "map")
    store.put(fan_in_key, fanin.build(UID, "merge", 1, "map", [(0, keys[0]), (2, keys[1])]).dumps())
    root = tmp_path / "switchyard"
    _meta(root, ["10", "11", "12"])
    _stage_in(store, root, fan_in_key)
    tree = root / "upstream" / "map"
    assert (tree / "results.json").read_text() == "[10,11,12]"
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()) == [
        "0/part-0.txt", "0/result", "1/result", "2/part-2.txt", "2/result", "results.json",
    ]  # fmt: skip
    assert (tree / "0" / "part-0.txt").read_bytes() == b"bytes of 0"
    assert (tree / "2" / "part-2.txt").read_bytes() == b"bytes of 2"
    assert (tree / "2" / "result").read_text() == "12"


def test_a_tampered_or_missing_instance_artifact_names_the_instance(tmp_path: Path) -> None:
    store = MemoryStore()
    keys = [instance_outputs(store, f"map[{i}]", {"part.txt": f"bytes of {i}".encode()}) for i in range(3)]
    fan_in_key = fanin.fan_in_key(mf.attempt_prefix(PREFIX, "merge", 1), "map")
    store.put(fan_in_key, fanin.build(UID, "merge", 1, "map", list(enumerate(keys))).dumps())
    store.put(mf.file_key(mf.attempt_prefix(PREFIX, "map[1]", 1), "part.txt"), b"evil bytes")
    root = tmp_path / "a" / "switchyard"
    _meta(root, ["0", "1", "2"])
    with pytest.raises(StagingFailure) as caught:
        _stage_in(store, root, fan_in_key)
    message = str(caught.value)
    assert caught.value.reason == mf.ARTIFACT_CORRUPT and mf.upstream_of(message) == "map[1]", message
    assert not (root / "upstream" / "map" / "1" / "part.txt").exists()  # never passed on
    del store.objects[mf.file_key(mf.attempt_prefix(PREFIX, "map[2]", 1), "part.txt")]
    store.put(mf.file_key(mf.attempt_prefix(PREFIX, "map[1]", 1), "part.txt"), b"bytes of 1")
    root = tmp_path / "b" / "switchyard"
    _meta(root, ["0", "1", "2"])
    with pytest.raises(StagingFailure) as caught:
        _stage_in(store, root, fan_in_key)
    assert caught.value.reason == mf.ARTIFACT_MISSING and mf.upstream_of(str(caught.value)) == "map[2]"


def test_another_workflows_instance_manifest_or_a_missing_fan_in_manifest_is_refused(tmp_path: Path) -> None:
    store = MemoryStore()
    key = instance_outputs(store, "map[0]", {"part.txt": b"x"}, uid="uid-other")
    fan_in_key = fanin.fan_in_key(mf.attempt_prefix(PREFIX, "merge", 1), "map")
    store.put(fan_in_key, fanin.build(UID, "merge", 1, "map", [(0, key)]).dumps())
    _meta(tmp_path / "a" / "switchyard", ["0"])
    with pytest.raises(StagingFailure) as caught:
        _stage_in(store, tmp_path / "a" / "switchyard", fan_in_key)
    assert caught.value.reason == mf.ARTIFACT_CORRUPT and mf.upstream_of(str(caught.value)) == "map[0]"
    _meta(tmp_path / "b" / "switchyard", ["0"])
    with pytest.raises(StagingFailure) as caught:  # the operator's own object: no instance to blame
        _stage_in(store, tmp_path / "b" / "switchyard", fan_in_key + ".gone")
    assert caught.value.reason == mf.ARTIFACT_MISSING and mf.upstream_of(str(caught.value)) is None


def test_a_store_error_for_an_instance_is_store_trouble_not_the_instance(tmp_path: Path) -> None:
    store = MemoryStore()
    key = instance_outputs(store, "map[0]", {"part.txt": b"x"})
    fan_in_key = fanin.fan_in_key(mf.attempt_prefix(PREFIX, "merge", 1), "map")
    store.put(fan_in_key, fanin.build(UID, "merge", 1, "map", [(0, key)]).dumps())

    def down(bucket: str, key_: str, **_: Any) -> Response:
        if key_ == fan_in_key:
            return Response(store.objects[key_])
        raise ConnectionError("refused")

    store.get_object = down  # type: ignore[method-assign]
    _meta(tmp_path / "switchyard", ["0"])
    with pytest.raises(ConnectionError):
        _stage_in(store, tmp_path / "switchyard", fan_in_key)


def _run_artifacts(client: Any) -> Any:
    from switchyard.artifacts.store import Credentials, StoreSpec
    from switchyard.config import Options
    from switchyard.k8s.artifactrun import RunArtifacts

    spec = StoreSpec.model_validate(
        {"endpoint": "s3.local", "bucket": "bkt", "prefix": "p/", "credentialsSecretRef": {"name": "s"}}
    )
    run = RunArtifacts(spec, Credentials("a", "s"), "ns", "wf", UID, None, Options())
    run._client = client
    return run


def test_the_operator_writes_the_fan_in_manifest_before_the_job_and_store_trouble_is_not_charged() -> None:
    import asyncio
    import dataclasses

    from tests.unit.test_scheduler import T0
    from tests.unit.test_scheduler_artifacts import NO_RETRY, _fan_in_run

    from switchyard.logic.scheduler import Launch

    run, book = _fan_in_run()
    launch = Launch("merge", 1, "c")
    written: dict[str, bytes] = {}

    class Writes:
        def put_object(self, bucket: str, key: str, data: Any, length: int, **_: Any) -> None:
            written[key] = data.read()

    artifacts = _run_artifacts(Writes())
    assert asyncio.run(artifacts.write_fan_ins(run, [launch, Launch("split", 2, "c")], T0)) == {}
    key = "p/workflows/ns/wf/uid-1/merge/1.fanin/map.json"
    assert list(written) == [key]  # only the fan-in node: the other launch reads no forEach dependency
    listed = fanin.loads(written[key], workflow_uid=UID, dependency="map")
    assert listed.instances == ((0, "k/map[0]/1.manifest.json"), (1, "k/map[1]/1.manifest.json"))
    assert artifacts.staging("merge", 1, {"map": None}).fan_in == {"map": key}

    class Down:
        def put_object(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("refused")

    troubles = asyncio.run(_run_artifacts(Down()).write_fan_ins(run, [launch], T0))
    result = troubles["merge"]
    assert (result.state, result.reason, result.store_trouble, result.blame) == (
        "Lost",
        mf.STORE_UNAVAILABLE,
        True,
        False,
    )
    assert "fan-in manifest of map" in result.message
    run.step({"merge": dataclasses.replace(result, job=run.job_name("merge", 1))}, NO_RETRY, book, T0)
    assert run.nodes["merge"].phase == "Retrying" and run.nodes["merge"].reason == mf.STORE_UNAVAILABLE
    assert book.state("c").consecutive_failures == 0
