"""Helpers for tests that need an ArtifactStore: its Secret and object, pointing at the test S3 server."""

from __future__ import annotations

import base64
import io
from typing import Any

from minio import Minio

from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import GROUP, VERSION, Kube

PLURAL = "artifactstores"
PROCESSORS = ("chunking-processor", "numeric-processor", "data-validator", "json-processor")


def create_secret(kube: Kube, name: str, access_key: str, secret_key: str) -> None:
    kube.core.create_namespaced_secret(
        kube.namespace,
        {"metadata": {"name": name}, "stringData": {"accessKeyId": access_key, "secretAccessKey": secret_key}},
    )


def create_store(
    kube: Kube,
    server: S3Server,
    name: str = "default",
    *,
    bucket: str | None = None,
    secret: str | None = "store-credentials",
    secret_key: str | None = None,
    prefix: str | None = None,
) -> None:
    """An ArtifactStore `name` for `server` (its bucket unless `bucket`), with its Secret unless `secret` is None
    (the Secret is still referenced by the name `store-credentials`)."""
    ref = secret or "store-credentials"
    if secret is not None:
        create_secret(kube, secret, server.access_key, secret_key or server.secret_key)
    s3: dict[str, Any] = {
        "endpoint": server.host,
        "bucket": bucket or server.bucket,
        "insecure": True,
        "region": server.region,
        "credentialsSecretRef": {"name": ref},
    }
    if prefix is not None:
        s3["prefix"] = prefix
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ArtifactStore", "metadata": {"name": name}, "spec": {"s3": s3}}
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL, body)


def ready(kube: Kube, name: str = "default") -> dict[str, Any] | None:
    """The Ready condition of the store (None before the first check)."""
    status = kube.custom.get_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL, name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


def _store_spec(server: S3Server) -> dict[str, Any]:
    return {
        "endpoint": server.host,
        "bucket": server.bucket,
        "region": server.region,
        "insecure": True,
        "credentialsSecretRef": {"name": "store-credentials"},
    }


def make_store(kube: Kube, s3_server: S3Server) -> Minio:
    data = {"accessKeyId": s3_server.access_key, "secretAccessKey": s3_server.secret_key}
    kube.core.create_namespaced_secret(
        kube.namespace,
        {
            "metadata": {"name": "store-credentials"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ArtifactStore",
        "metadata": {"name": "default"},
        "spec": {"s3": _store_spec(s3_server)},
    }
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, "artifactstores", body)
    for name in PROCESSORS:
        kube.create(
            "Component",
            name,
            {
                "image": "switchyard:0.1.0",
                "command": ["python", "-m", "switchyard.processors", name],
                "retry": {"limit": 1, "backoff": {"initialSeconds": 1, "factor": 1, "maxSeconds": 1}},
            },
        )
    spec = StoreSpec.model_validate(_store_spec(s3_server))
    return make_client(spec, Credentials(s3_server.access_key, s3_server.secret_key))


def put(client: Minio, bucket: str, key: str, data: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="text/plain")
