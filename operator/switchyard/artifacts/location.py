"""How a node's staging containers reach the artifact store: the store's spec as plain env, credentials apart.

The spec (`SWITCHYARD_STORE`, the ArtifactStore's `spec.s3` as JSON: endpoint, bucket, region, prefix...) is
not secret and goes into the Pod spec as a value; the access key pair reaches the staging containers only,
through `valueFrom.secretKeyRef` of the ArtifactStore's Secret (`ENV_ACCESS_KEY`, `ENV_SECRET_KEY`), so the
Pod spec names the Secret but never holds its values, and the Component's container has neither.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minio import Minio

from switchyard.artifacts.client import Credentials, StoreLocation, make_client

if TYPE_CHECKING:  # the staging steps read their store without importing the API models (pydantic)
    from switchyard.artifacts.store import StoreSpec

ENV_STORE = "SWITCHYARD_STORE"
ENV_ACCESS_KEY = "SWITCHYARD_S3_ACCESS_KEY_ID"
ENV_SECRET_KEY = "SWITCHYARD_S3_SECRET_ACCESS_KEY"


def store_env(spec: StoreSpec) -> str:
    return spec.model_dump_json(by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class EnvStore:
    """The store as a staging container reads it from `SWITCHYARD_STORE` (written by the operator from the
    validated `spec.s3`, so it is not validated again)."""

    endpoint: str
    bucket: str
    region: str | None = None
    prefix: str | None = None
    insecure: bool = False
    path_style: bool | None = None


def spec_from_env(environ: Mapping[str, str] | None = None) -> EnvStore:
    env = os.environ if environ is None else environ
    body = json.loads(env[ENV_STORE])
    return EnvStore(
        endpoint=str(body["endpoint"]),
        bucket=str(body["bucket"]),
        region=body.get("region"),
        prefix=body.get("prefix"),
        insecure=bool(body.get("insecure", False)),
        path_style=body.get("pathStyle"),
    )


def client_from_env(spec: StoreLocation, environ: Mapping[str, str] | None = None) -> Minio:
    """The client a staging container builds from its env (the Secret's values, put there by the kubelet);
    a few retries with backoff ride out a store's brief trouble before the attempt is given up."""
    env = os.environ if environ is None else environ
    credentials = Credentials(env.get(ENV_ACCESS_KEY, ""), env.get(ENV_SECRET_KEY, ""))
    return make_client(spec, credentials, retries=3)
