"""ArtifactStore Ready checks by the real operator against the real S3 server (moto, with IAM auth on):
Ready, SecretMissing then fixed, NoSuchBucket, AccessDenied (wrong secret), Unreachable then Ready when back;
`kubectl get systore` columns; `resolve_store` reading the store and its Secret; artifact GC of deleted
Workflows' outputs (a live one's, a retained one's and a user's own keys kept)."""

from __future__ import annotations

import asyncio
import io
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.artifacts import gc, keys
from switchyard.artifacts.store import Credentials, StoreError, make_client, parse_spec
from switchyard.k8s.artifactstores import resolve_store
from switchyard.k8s.client import Api, load_config
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.s3server import S3Server
from switchyard.sandbox.waiting import wait_for
from tests.emulated.conftest import Kube, new_namespace
from tests.emulated.storehelpers import PLURAL, create_secret, create_store, ready

pytestmark = pytest.mark.emulated


@pytest.fixture(scope="module")
def store_operator(kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """An operator of its own (namespaces `a-*`) that re-checks stores (and sweeps them) every second."""
    log = tmp_path_factory.mktemp("store-operator") / "operator.log"
    args = ("--store-check-interval", "1", "--store-check-backoff-max", "1", "--artifact-gc-interval", "1")
    proc = OperatorProcess(kubeconfig, log, namespaces=("a-*",), extra_args=args).start()
    proc.wait_ready()
    yield proc
    proc.stop()


@pytest.fixture
def store_kube(kubeconfig: pathlib.Path, store_operator: OperatorProcess) -> Iterator[Kube]:
    yield Kube(kubeconfig, new_namespace(kubeconfig, "a"))
    assert store_operator.alive, f"the operator died:\n{store_operator.log()[-4000:]}"


def wait_ready(kube: Kube, status: str, reason: str, name: str = "default", timeout: float = 20) -> dict[str, Any]:
    try:
        return wait_for(
            lambda: (c := ready(kube, name)) is not None and c["status"] == status and c["reason"] == reason and c,
            timeout,
            what=f"ArtifactStore {name} Ready={status} ({reason})",
        )
    except TimeoutError as error:
        raise TimeoutError(f"{error}; the condition is {ready(kube, name)}") from None


def test_reachable_store_is_ready(store_kube: Kube, s3_server: S3Server) -> None:
    create_store(store_kube, s3_server)
    condition = wait_ready(store_kube, "True", "Ready")
    assert s3_server.bucket in condition["message"]
    assert store_kube.wait_event("default", "Ready").type == "Normal"


def test_missing_secret_then_created(store_kube: Kube, s3_server: S3Server) -> None:
    create_store(store_kube, s3_server, secret=None)
    condition = wait_ready(store_kube, "False", "SecretMissing")
    assert "store-credentials" in condition["message"]
    assert store_kube.wait_event("default", "SecretMissing").type == "Warning"
    create_secret(store_kube, "store-credentials", s3_server.access_key, s3_server.secret_key)
    wait_ready(store_kube, "True", "Ready")


def test_missing_bucket_is_no_such_bucket(store_kube: Kube, s3_server: S3Server) -> None:
    create_store(store_kube, s3_server, bucket="no-such-bucket")
    condition = wait_ready(store_kube, "False", "NoSuchBucket")
    assert "no-such-bucket" in condition["message"]
    store_kube.wait_event("default", "NoSuchBucket")


def test_wrong_secret_key_is_access_denied_and_never_shown(store_kube: Kube, s3_server: S3Server) -> None:
    create_store(store_kube, s3_server, secret_key="wrong-secret-value")
    condition = wait_ready(store_kube, "False", "AccessDenied")
    event = store_kube.wait_event("default", "AccessDenied")
    store = store_kube.custom.get_namespaced_custom_object(
        "switchyard.dev", "v1alpha1", store_kube.namespace, "artifactstores", "default"
    )
    for text in (str(store), condition["message"], event.message):
        assert "wrong-secret-value" not in text
        assert s3_server.secret_key not in text


def test_store_down_is_unreachable_then_ready_when_back(store_kube: Kube, s3_server: S3Server) -> None:
    create_store(store_kube, s3_server)
    wait_ready(store_kube, "True", "Ready")
    s3_server.down()
    try:
        condition = wait_ready(store_kube, "False", "Unreachable")
        assert s3_server.host in condition["message"]
        store_kube.wait_event("default", "Unreachable")
    finally:
        s3_server.up()
    wait_ready(store_kube, "True", "Ready")


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_systore_columns(store_kube: Kube, s3_server: S3Server, kubeconfig: pathlib.Path) -> None:
    create_store(store_kube, s3_server)
    wait_ready(store_kube, "True", "Ready")
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", store_kube.namespace, "get", "systore"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "ENDPOINT", "BUCKET", "AGE"]
    assert row.split()[:4] == ["default", "True", s3_server.host, s3_server.bucket]


def test_resolve_store_reads_the_store_and_its_secret(
    kubeconfig: pathlib.Path, namespace: str, kube: Kube, s3_server: S3Server
) -> None:
    create_store(kube, s3_server, name="other", prefix="team/")

    async def resolve(name: str | None) -> Any:
        api = Api(load_config(str(kubeconfig)))
        try:
            return await resolve_store(api, namespace, name)
        finally:
            api.close()

    spec, credentials = asyncio.run(resolve("other"))
    assert (spec.bucket, spec.prefix, credentials.access_key_id) == (s3_server.bucket, "team/", s3_server.access_key)
    assert credentials.secret_access_key == s3_server.secret_key
    with pytest.raises(StoreError) as missing:
        asyncio.run(resolve(None))  # no `default` store in this namespace
    assert missing.value.reason == "StoreNotFound"


def test_outputs_of_deleted_workflows_are_collected(store_kube: Kube, s3_server: S3Server) -> None:
    ns = store_kube.namespace
    create_store(store_kube, s3_server, prefix=f"gc-{ns}/")
    body = store_kube.custom.get_namespaced_custom_object("switchyard.dev", "v1alpha1", ns, PLURAL, "default")
    spec = parse_spec(body)
    # a Workflow that exists (Invalid: its component is missing, so nothing runs, it just stays)
    store_kube.create("Workflow", "alive", {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "none"}]})
    alive_uid = store_kube.get("Workflow", "alive")["metadata"]["uid"]
    client = make_client(spec, Credentials(s3_server.access_key, s3_server.secret_key))

    def put(name: str) -> str:
        client.put_object(spec.bucket, name, io.BytesIO(b"x"), 1)
        return name

    alive = put(keys.output_key(spec, ns, "alive", alive_uid, "a", 1, "out/part-0"))
    gone = [put(keys.output_key(spec, ns, "gone", "uid-gone", node, 1, "f")) for node in ("a", "b")]
    stale = put(keys.output_key(spec, ns, "alive", "uid-of-an-older-alive", "a", 1, "f"))  # same name, old uid
    kept = put(keys.output_key(spec, ns, "kept", "uid-kept", "a", 1, "f"))
    put(gc.retain_key(spec, ns, "kept", "uid-kept"))
    user = put(keys.prefixed(spec, "inputs/mine.csv"))

    def exists(name: str) -> bool:
        return any(o.object_name == name for o in client.list_objects(spec.bucket, prefix=name))

    wait_ready(store_kube, "True", "Ready")
    wait_for(lambda: not any(exists(n) for n in [*gone, stale]), 20, what="the deleted Workflows' outputs gone")
    assert exists(alive) and exists(kept) and exists(user)
    store_kube.custom.delete_namespaced_custom_object("switchyard.dev", "v1alpha1", ns, "workflows", "alive")
    wait_for(lambda: not exists(alive), 30, what="the outputs of the Workflow just deleted gone")
    assert exists(kept) and exists(user)


@pytest.fixture(scope="module")
def slow_store_operator(
    kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """An operator (namespaces `b-*`) whose periodic checks are 5 minutes apart: only a spec change wakes one."""
    log = tmp_path_factory.mktemp("slow-store-operator") / "operator.log"
    args = ("--store-check-interval", "300", "--store-check-backoff-max", "300", "--artifact-gc-interval", "0")
    proc = OperatorProcess(kubeconfig, log, namespaces=("b-*",), extra_args=args).start()
    proc.wait_ready()
    yield proc
    proc.stop()


def test_a_spec_change_is_checked_at_once(
    kubeconfig: pathlib.Path, slow_store_operator: OperatorProcess, s3_server: S3Server
) -> None:
    kube = Kube(kubeconfig, new_namespace(kubeconfig, "b"))
    create_store(kube, s3_server)
    first = wait_ready(kube, "True", "Ready")
    patch = {"spec": {"s3": {"bucket": "no-such-bucket"}}}
    kube.custom.patch_namespaced_custom_object("switchyard.dev", "v1alpha1", kube.namespace, PLURAL, "default", patch)
    # the next periodic check is 300 s away: seeing it within 15 s means the spec change woke the check
    changed = wait_ready(kube, "False", "NoSuchBucket", timeout=15)
    assert changed["observedGeneration"] == first["observedGeneration"] + 1
    assert slow_store_operator.alive
