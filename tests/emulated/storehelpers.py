"""Helpers for tests that need an ArtifactStore: its Secret and object, pointing at the test S3 server."""

from __future__ import annotations

from typing import Any

from switchyard.sandbox.s3server import S3Server
from tests.emulated.conftest import GROUP, VERSION, Kube

PLURAL = "artifactstores"


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
