"""Where a node's staging containers find the artifact store: settings passed as plain env, credentials apart.

The settings (`SWITCHYARD_STORE`, JSON: endpoint, bucket, region, prefix, insecure) are not secret and go
into the Pod spec as a value; the access key pair reaches the staging containers only, through
`valueFrom.secretKeyRef` of the ArtifactStore's Secret (`ENV_ACCESS_KEY`, `ENV_SECRET_KEY`), so the Pod spec
names the Secret but never holds its values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from minio import Minio

ENV_STORE = "SWITCHYARD_STORE"
ENV_ACCESS_KEY = "SWITCHYARD_S3_ACCESS_KEY_ID"
ENV_SECRET_KEY = "SWITCHYARD_S3_SECRET_ACCESS_KEY"


@dataclass(frozen=True)
class StoreLocation:
    """An S3-compatible bucket. `endpoint` is `host[:port]` (HTTPS, or plain HTTP when `insecure`) or a URL."""

    endpoint: str
    bucket: str
    region: str | None = None
    prefix: str = ""
    insecure: bool = False

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreLocation:
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = json.loads(env[ENV_STORE])
        return cls(**raw)

    def client(self, access_key: str, secret_key: str) -> Minio:
        """A blocking minio client for this bucket's endpoint."""
        if "://" in self.endpoint:
            url = urlsplit(self.endpoint)
            host, secure = url.netloc, url.scheme == "https"
        else:
            host, secure = self.endpoint, not self.insecure
        return Minio(host, access_key=access_key, secret_key=secret_key, secure=secure, region=self.region or None)


def client_from_env(location: StoreLocation, environ: Mapping[str, str] | None = None) -> Minio:
    """The client a staging container builds from its env (the Secret's values, put there by the kubelet)."""
    env = os.environ if environ is None else environ
    return location.client(env.get(ENV_ACCESS_KEY, ""), env.get(ENV_SECRET_KEY, ""))
