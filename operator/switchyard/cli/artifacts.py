"""`switchyard artifacts put|get|ls`: a namespace's ArtifactStore from the command line, no other tool needed.

The store (`--store`, default `default`) and its Secret are read with the caller's kubeconfig (so the caller
needs `get` on that Secret, as with any tool holding the key); then the S3 API is used directly, through the
same client factory as the operator (`switchyard.artifacts.store`). `get` verifies the sha256 digest: the one
a Workflow recorded for WORKFLOW/NODE/NAME, or the one `put` stored in the object's metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any

import typer
import urllib3
from minio import Minio
from minio.error import S3Error
from rich.console import Console
from rich.table import Table
from rich.text import Text

from switchyard.artifacts import digest, keys
from switchyard.artifacts.store import StoreError, StoreSpec, describe_connection_error, from_objects, make_client
from switchyard.cli.cluster import Cluster, ClusterError
from switchyard.models.artifactstore import DEFAULT_STORE

DIGEST_METADATA = "sha256"  # x-amz-meta-sha256: the hex digest `put` computed, checked by `get`
PART_SIZE = 16 * 1024 * 1024

app = typer.Typer(
    name="artifacts",
    help="Put, get and list objects of the namespace's ArtifactStore (`--store`, default `default`).",
    no_args_is_help=True,
)

StoreOption = Annotated[str, typer.Option("--store", help="the ArtifactStore's name")]


class ArtifactsError(Exception):
    """A failed artifacts command, with a message for the user."""


@dataclass
class Store:
    spec: StoreSpec
    client: Minio
    name: str

    @property
    def where(self) -> str:
        return f"store {self.name} (bucket {self.spec.bucket} at {self.spec.endpoint})"


def open_store(cluster: Cluster, name: str) -> Store:
    try:
        store_obj = cluster.artifact_store(name)
        spec_secret = ((store_obj.get("spec") or {}).get("s3") or {}).get("credentialsSecretRef") or {}
        secret = cluster.secret(str(spec_secret.get("name") or ""))
        spec, credentials = from_objects(store_obj, secret)
    except StoreError as error:
        raise ArtifactsError(f"ArtifactStore {name}: {error.message}") from error
    return Store(spec, make_client(spec, credentials, retries=3), name)


@contextlib.contextmanager
def store_errors(store: Store, what: str) -> Iterator[None]:
    """S3 and connection errors as one line for the user."""
    try:
        yield
    except S3Error as error:
        raise ArtifactsError(f"{what}: {store.where} answered {error.code}: {error.message}") from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ArtifactsError(f"{what}: {store.where} is unreachable: {describe_connection_error(error)}") from error


def put(store: Store, source: pathlib.Path, key: str) -> tuple[str, str, int]:
    """Upload `source` as `key` (under the store's prefix), its digest in the object's metadata: (name, digest, size).

    The file is read twice (digest, then upload), never held in memory; S3 makes the object visible only once the
    whole upload completed, so a reader never sees a part.
    """
    if not source.is_file():
        raise ArtifactsError(f"{source}: not a file")
    object_name = keys.prefixed(store.spec, key)
    file_digest, size = digest.digest_file(source)
    hexdigest = file_digest.removeprefix("sha256:")
    with store_errors(store, f"put {key}"):
        store.client.fput_object(
            store.spec.bucket, object_name, str(source), metadata={DIGEST_METADATA: hexdigest}, part_size=PART_SIZE
        )
    return object_name, file_digest, size


@dataclass(frozen=True)
class Located:
    object_name: str
    digest: str | None  # None: nothing recorded to check against
    size: int | None


def recorded_artifacts(workflow: dict[str, Any], node: str, store: Store | None) -> list[dict[str, Any]]:
    """A node's artifacts as its Workflow recorded them: `status.nodes[N].artifacts`, else (more than the status
    holds) the succeeding attempt's manifest object named by `artifactManifest`."""
    status = ((workflow.get("status") or {}).get("nodes") or {}).get(node)
    if status is None:
        raise ArtifactsError(f"workflow {workflow['metadata']['name']} has no node {node!r}")
    artifacts = list(status.get("artifacts") or [])
    manifest = status.get("artifactManifest")
    if manifest and store is not None and len(artifacts) >= 100:
        with store_errors(store, f"manifest of node {node}"):
            response = store.client.get_object(store.spec.bucket, manifest)
            try:
                artifacts = list(json.loads(response.read()).get("artifacts") or artifacts)
            finally:
                response.close()
                response.release_conn()
    return artifacts


def locate(cluster: Cluster, store: Store, ref: str) -> Located:
    """WORKFLOW/NODE/NAME when the first part names a Workflow of the namespace with that node, else a key."""
    parts = ref.split("/", 2)
    if len(parts) == 3:
        try:
            workflow = cluster.workflow(parts[0])
        except ClusterError:
            workflow = None
        if workflow is not None:
            for artifact in recorded_artifacts(workflow, parts[1], store):
                if artifact.get("name") == parts[2]:
                    return Located(str(artifact["key"]), artifact.get("digest"), artifact.get("size"))
            raise ArtifactsError(f"workflow {parts[0]} node {parts[1]} has no artifact {parts[2]!r}")
    object_name = keys.prefixed(store.spec, ref)
    with store_errors(store, f"get {ref}"):
        try:
            stat = store.client.stat_object(store.spec.bucket, object_name)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                raise ArtifactsError(f"{ref}: no such object in {store.where}") from error
            raise
    recorded = {k.lower(): v for k, v in (stat.metadata or {}).items()}.get(f"x-amz-meta-{DIGEST_METADATA}")
    return Located(object_name, digest.format_digest(recorded) if recorded else None, stat.size)


def download(store: Store, located: Located, out: IO[bytes]) -> tuple[str, int]:
    """Stream the object into `out`, hashing it: (digest, size)."""
    with store_errors(store, f"get {located.object_name}"):
        response = store.client.get_object(store.spec.bucket, located.object_name)
        try:
            return digest.copy_digesting(response.stream(1024 * 1024), out)
        finally:
            response.close()
            response.release_conn()


def get(cluster: Cluster, store: Store, ref: str, output: pathlib.Path | None) -> tuple[Located, str, int]:
    """Download and verify. To a file: written beside it and renamed only once the digest matched (a mismatch
    leaves nothing). To stdout: a mismatch is reported after the bytes, with a non-zero exit."""
    located = locate(cluster, store, ref)
    if output is None:
        got, size = download(store, located, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                got, size = download(store, located, stream)
            check(located, got, size, ref)
            os.replace(partial, output)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        return located, got, size
    check(located, got, size, ref)
    return located, got, size


def check(located: Located, got: str, size: int, ref: str) -> None:
    if located.digest is not None and got != located.digest:
        raise ArtifactsError(f"{ref}: digest {got} does not match the recorded {located.digest}; nothing kept")
    if located.size is not None and size != located.size:
        raise ArtifactsError(f"{ref}: {size} bytes read, {located.size} recorded; nothing kept")


def recorded_table(workflow: dict[str, Any]) -> Table | None:
    """`switchyard get`'s ARTIFACTS table: each node's recorded artifacts (name, size, digest); None without any."""
    table = Table("NODE", "ARTIFACT", "SIZE", "DIGEST", title="Artifacts", title_justify="left", box=None,
                  pad_edge=False)  # fmt: skip
    for node, status in sorted(((workflow.get("status") or {}).get("nodes") or {}).items()):
        for artifact in status.get("artifacts") or []:
            table.add_row(node, str(artifact.get("name")), str(artifact.get("size")), str(artifact.get("digest")))
        if status.get("artifactManifest") and len(status.get("artifacts") or []) >= 100:
            table.add_row(node, "...", "", f"all in `switchyard artifacts ls {workflow['metadata']['name']}`")
    return table if table.row_count else None


def listing(cluster: Cluster, store: Store, workflow: str | None) -> Table:
    if workflow is None:
        table = Table("KEY", "SIZE", "MODIFIED", box=None, pad_edge=False)
        with store_errors(store, "ls"):
            for obj in store.client.list_objects(store.spec.bucket, prefix=store.spec.prefix or None, recursive=True):
                modified = obj.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ") if obj.last_modified else ""
                table.add_row(keys.unprefixed(store.spec, obj.object_name), str(obj.size), modified)
        return table
    obj = cluster.workflow(workflow)
    table = Table("NODE", "NAME", "SIZE", "DIGEST", "KEY", box=None, pad_edge=False)
    for node in sorted((obj.get("status") or {}).get("nodes") or {}):
        for artifact in recorded_artifacts(obj, node, store):
            table.add_row(node, artifact["name"], str(artifact["size"]), artifact["digest"], artifact["key"])
    return table


# --- the commands (registered on the `switchyard` app by cli.main) ------------------------------------------------

out = Console(highlight=False, width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 200))
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _connect(ctx: typer.Context, store_name: str) -> tuple[Cluster, Store]:
    try:
        cluster: Cluster = ctx.obj.cluster()  # the root command's Settings: --kubeconfig, --context, -n
        return cluster, open_store(cluster, store_name)
    except (ClusterError, ArtifactsError) as error:
        raise _fail(str(error)) from error


def _fail(message: str) -> typer.Exit:
    err.print(Text(f"error: {message}", style="bold red"))
    return typer.Exit(1)


@app.command("put", help="Upload FILE as KEY (under the store's prefix); prints the key, size and sha256 digest.")
def put_command(
    ctx: typer.Context,
    file: Annotated[pathlib.Path, typer.Argument(help="the file to upload")],
    key: Annotated[str, typer.Argument(help="the object's key (e.g. inputs/data.csv)")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    _, opened = _connect(ctx, store)
    try:
        _, file_digest, size = put(opened, file, key)
    except ArtifactsError as error:
        raise _fail(str(error)) from error
    out.print(f"{key}\t{size}\t{file_digest}")


@app.command(
    "get",
    help="Download KEY, or WORKFLOW/NODE/NAME (an output a Workflow recorded), to stdout or -o FILE; the sha256 "
    "digest is verified (a mismatch keeps nothing and exits 1).",
)
def get_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="KEY|WORKFLOW/NODE/NAME", help="what to download")],
    output: Annotated[pathlib.Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    cluster, opened = _connect(ctx, store)
    try:
        located, got, size = get(cluster, opened, ref, output)
    except (ArtifactsError, ClusterError) as error:
        raise _fail(str(error)) from error
    if output is not None:
        verified = "verified" if located.digest else "no digest recorded"
        err.print(f"{output}: {size} bytes, {got} ({verified})")


@app.command("ls", help="List the store's objects, or with WORKFLOW the artifacts its nodes recorded.")
def ls_command(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Argument(help="a Workflow of the namespace")] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    cluster, opened = _connect(ctx, store)
    try:
        table = listing(cluster, opened, workflow)
    except (ArtifactsError, ClusterError) as error:
        raise _fail(str(error)) from error
    out.print(table)
