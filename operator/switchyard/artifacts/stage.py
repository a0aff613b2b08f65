# ruff: noqa: E402  (SIGTERM is caught before the slow imports: see TERMINATED)
"""The staging steps of a node's Pod, run from the switchyard image (never by the Component's container).

`python -m switchyard.artifacts.stage in ...` (the regular init container `stage-in`) lays out the tree the
Component reads under `/switchyard` (an emptyDir): `config.json` and the results previews copied from the
projected volume at `/switchyard-meta`, the input (an artifact streamed from the store, digest-free as it is
the user's object, or the inline/ConfigMap input), and each dependency's artifacts at
`upstream/<node>/<name>`, verified against the sha256 of the dependency's manifest while they stream to disk;
for a forEach instance over a dependency's artifacts, the artifact its item names at `item.data` (verified the
same way); for a forEach dependency (`--fan-in NODE=KEY`, the fan-in manifest `artifacts.fanin`) every
instance's artifacts at `upstream/<node>/<i>/<name>`, beside `<i>/result` and `results.json` (an artifact named
`result` takes the place of the result file: the result is in `results.json` too).

`python -m switchyard.artifacts.stage out ...` (the native sidecar `stage-out`) waits for SIGTERM, which the
kubelet sends once the main container has exited, then uploads every file under `/switchyard/outputs/` to the
attempt's own prefix and writes the manifest last. A failure exits non-zero with a termination message that
starts with the reason (`ArtifactCorrupt`, `ArtifactMissing`, `ArtifactStoreUnavailable`, `OutputTooLarge`).
"""

from __future__ import annotations

import signal
import threading

# stage-out's SIGTERM may come soon after the Pod starts (a main container that exits at once): catch it
# before anything slow is imported, and remember it. `wait_for_sigterm` then returns at once.
TERMINATED = threading.Event()
READY_FILE = "/tmp/stage-out.ready"  # the sidecar's startupProbe: the main container starts after it exists


def _on_sigterm(signum: int, frame: object) -> None:
    TERMINATED.set()


signal.signal(signal.SIGTERM, _on_sigterm)

import argparse
import contextlib
import io
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from minio import Minio

from switchyard.artifacts import fanin
from switchyard.artifacts import manifest as mf
from switchyard.artifacts.client import StoreLocation
from switchyard.artifacts.digest import copy_digesting, digest_file
from switchyard.artifacts.location import client_from_env, spec_from_env
from switchyard.artifacts.trouble import StagingFailure, classify

CHUNK = 1 << 20
ENV_ROOT = "SWITCHYARD_ROOT"
ENV_TERMINATION_LOG = "SWITCHYARD_TERMINATION_LOG"
RESULT_SUFFIX = ".result.json"
ITEM_DATA = "item.data"  # a forEach instance's artifact item's bytes


def _root() -> Path:
    return Path(os.environ.get(ENV_ROOT, "/switchyard"))


def _meta(root: Path) -> Path:
    """The projected volume (config, inline input, results): `/switchyard-meta` beside the root."""
    return root.parent / f"{root.name}-meta"


def download(client: Minio, bucket: str, key: str, target: Path, expect: mf.Entry | None = None) -> int:
    """Stream one object to `target` (via a `.part` file), checking size and digest against `expect`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    response = client.get_object(bucket, key)
    try:
        with part.open("wb") as out:
            digest, size = copy_digesting(response.stream(CHUNK), out)
    finally:
        response.close()
        response.release_conn()
    if expect is not None and (size != expect.size or digest != expect.digest):
        part.unlink(missing_ok=True)
        raise StagingFailure(
            mf.ARTIFACT_CORRUPT,
            f"{key}: got {size} bytes {digest[:23]}..., the manifest says {expect.size} bytes {expect.digest[:23]}...",
        )
    part.replace(target)
    return size


def stage_in(client: Minio, spec: StoreLocation, args: argparse.Namespace, root: Path) -> None:
    meta = _meta(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "outputs").mkdir(exist_ok=True)  # its presence tells a processor to write its artifacts there
    if (meta / "config.json").is_file():
        shutil.copyfile(meta / "config.json", root / "config.json")
    if args.input_key:
        download(client, spec.bucket, args.input_key, root / "input")
    elif (meta / "input").is_file():
        shutil.copyfile(meta / "input", root / "input")
    if (meta / "item").is_file():  # a forEach instance's item
        shutil.copyfile(meta / "item", root / "item")
    if args.item_data:  # ... and the bytes of the artifact it names, checked as upstream artifacts are
        name = args.item_data.rsplit("/", 1)[-1]
        expect = mf.Entry(name, args.item_data, args.item_size, args.item_digest)
        download(client, spec.bucket, args.item_data, root / ITEM_DATA, expect)
    upstream = root / "upstream"
    upstream.mkdir(exist_ok=True)
    for pair in args.upstream:
        node, _, key = pair.partition("=")
        try:
            _stage_upstream(client, spec, args, meta, upstream, node, key)
        except Exception as exc:  # a bad dependency is named: the operator runs it again (`mf.upstream_of`)
            failure = classify(exc)
            if failure.reason in (mf.ARTIFACT_CORRUPT, mf.ARTIFACT_MISSING):
                raise StagingFailure(failure.reason, f"{mf.UPSTREAM} {node}: {failure.detail}") from exc
            raise
    for pair in args.fan_in:  # after the results previews: an instance's artifacts go beside its result
        node, _, key = pair.partition("=")
        _stage_fan_in(client, spec, args, upstream / node, node, key)


def _stage_fan_in(
    client: Minio, spec: StoreLocation, args: argparse.Namespace, target: Path, node: str, key: str
) -> None:
    """Every artifact of every instance the fan-in manifest at `key` lists, at `target/<i>/<name>`. A bad
    instance is named (`upstream NODE[i]: ...`); a bad fan-in manifest (the operator's own object, written just
    before the Job) is not: the fan-in attempt is retried, writing it again."""
    try:
        data = _read_object(client, spec.bucket, key)
        listed = fanin.loads(data, workflow_uid=args.workflow_uid, dependency=node)
    except Exception as exc:
        failure = classify(exc)
        raise StagingFailure(failure.reason, f"the fan-in manifest of {node} ({key}): {failure.detail}") from exc
    for index, manifest_key in listed.instances:
        try:
            manifest = _read_manifest(client, spec.bucket, manifest_key, args.workflow_uid)
            for entry in manifest.entries:
                download(client, spec.bucket, entry.key, target / str(index) / mf.check_name(entry.name), entry)
        except Exception as exc:  # named as a dependency is: the operator runs that instance again
            failure = classify(exc)
            if failure.reason in (mf.ARTIFACT_CORRUPT, mf.ARTIFACT_MISSING):
                raise StagingFailure(failure.reason, f"{mf.UPSTREAM} {node}[{index}]: {failure.detail}") from exc
            raise


def _read_object(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _stage_upstream(
    client: Minio, spec: StoreLocation, args: argparse.Namespace, meta: Path, upstream: Path, node: str, key: str
) -> None:
    preview = meta / "upstream" / node
    if not key:  # the dependency passed no artifacts (or ran without a store): its result only
        if preview.is_file():
            shutil.copyfile(preview, upstream / node)
        elif preview.is_dir():  # a forEach node: results.json and each instance's result (`i/result`)
            shutil.copytree(preview, upstream / node, dirs_exist_ok=True)
        return
    manifest = _read_manifest(client, spec.bucket, key, args.workflow_uid)
    if not manifest.entries:  # it wrote no files: its result alone, in the shape of a result-only node
        if preview.is_file():
            shutil.copyfile(preview, upstream / node)
        return
    if preview.is_file():
        shutil.copyfile(preview, upstream / f"{node}{RESULT_SUFFIX}")
    for entry in manifest.entries:
        download(client, spec.bucket, entry.key, upstream / node / mf.check_name(entry.name), entry)


def _read_manifest(client: Minio, bucket: str, key: str, workflow_uid: str | None) -> mf.Manifest:
    data = _read_object(client, bucket, key)
    try:
        return mf.loads(data, workflow_uid=workflow_uid)
    except mf.ManifestError as exc:
        raise StagingFailure(mf.ARTIFACT_CORRUPT, f"{key}: {exc}") from exc


def output_files(outputs: Path) -> list[tuple[str, Path]]:
    """(name, path) of every regular file under `outputs`, nested paths allowed, sorted by name."""
    found: list[tuple[str, Path]] = []
    if not outputs.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(outputs):
        dirnames.sort()
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(outputs).as_posix(), path))
    return sorted(found)


def stage_out(client: Minio, spec: StoreLocation, args: argparse.Namespace, root: Path) -> mf.Manifest:
    files = output_files(root / "outputs")
    total = sum(path.stat().st_size for _, path in files)
    if args.max_bytes is not None and total > args.max_bytes:
        raise StagingFailure(
            mf.OUTPUT_TOO_LARGE,
            f"the node wrote {total} bytes in {len(files)} files under outputs/; the per-node cap is "
            f"{args.max_bytes} bytes",
        )
    prefix = args.prefix
    entries = []
    for name, path in files:
        mf.check_name(name)
        key = mf.file_key(prefix, name)
        digest, size = digest_file(path)
        client.fput_object(spec.bucket, key, str(path), metadata={"sha256": digest})
        entries.append(mf.Entry(name, key, size, digest))
    manifest = mf.Manifest(args.workflow_uid, args.node, args.attempt, tuple(entries))
    data = manifest.dumps()
    client.put_object(
        spec.bucket, mf.manifest_key(prefix), io.BytesIO(data), len(data), content_type="application/json"
    )
    return manifest


def wait_for_sigterm(ready_file: str | None = READY_FILE) -> None:
    """Block until SIGTERM (the kubelet's word that the main container has exited) or SIGINT; `ready_file`
    is touched first (the startupProbe's condition)."""
    signal.signal(signal.SIGINT, _on_sigterm)
    if ready_file:
        with contextlib.suppress(OSError):  # not in a Pod (a test, the sandbox): nothing probes it
            Path(ready_file).touch()
    while not TERMINATED.wait(3600):
        pass


def _terminate(message: str) -> None:
    path = Path(os.environ.get(ENV_TERMINATION_LOG, "/dev/termination-log"))
    with contextlib.suppress(OSError):
        path.write_text(message[:4096])
    print(message, file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m switchyard.artifacts.stage", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="step", required=True)
    stage_in_ = sub.add_parser("in", help="lay out input, config and upstream artifacts before the Component runs")
    stage_in_.add_argument("--workflow-uid", required=True)
    stage_in_.add_argument("--input-key", default=None, help="the input artifact's key, if the input is one")
    stage_in_.add_argument(
        "--upstream", action="append", default=[], help="NODE=MANIFEST_KEY (or NODE= for results only)"
    )
    stage_in_.add_argument(
        "--fan-in", action="append", default=[], help="NODE=KEY: a forEach dependency's fan-in manifest"
    )
    stage_in_.add_argument("--item-data", default=None, help="a forEach instance's artifact item: its key")
    stage_in_.add_argument("--item-size", type=int, default=None, help="... its size in bytes")
    stage_in_.add_argument("--item-digest", default=None, help="... its sha256:<hex> digest")
    out = sub.add_parser("out", help="after SIGTERM, upload outputs/ to the attempt's prefix, manifest last")
    out.add_argument("--workflow-uid", required=True)
    out.add_argument("--node", required=True)
    out.add_argument("--attempt", type=int, required=True)
    out.add_argument("--prefix", required=True, help="the attempt's key prefix")
    out.add_argument("--max-bytes", type=int, default=None, help="the per-node output cap")
    out.add_argument("--no-wait", action="store_true", help="upload at once instead of waiting for SIGTERM")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root = _root()
    if args.step == "out" and not args.no_wait:
        wait_for_sigterm()
    try:
        spec = spec_from_env()
        client = client_from_env(spec)
        if args.step == "in":
            stage_in(client, spec, args, root)
        else:
            manifest = stage_out(client, spec, args, root)
            print(f"uploaded {len(manifest.entries)} files, {manifest.total_bytes} bytes", file=sys.stderr)
    except Exception as exc:  # every failure ends as a reason the operator can act on, never a traceback
        failure = classify(exc)
        _terminate(f"{failure.reason}: {failure.detail}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
