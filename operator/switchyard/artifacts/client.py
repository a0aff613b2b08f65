"""The S3 client of a store, without the API models: what a staging container needs, and nothing slower to import.

`make_client` takes any store location (the ArtifactStore's `spec.s3` model, or the plain `EnvStore` a staging
container reads from its env: `artifacts.location`), so the staging steps never import pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import urllib3
from minio import Minio

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


class StoreLocation(Protocol):
    """Where a store is: the fields of `spec.s3` a client needs."""

    @property
    def endpoint(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def prefix(self) -> str | None: ...
    @property
    def insecure(self) -> bool: ...
    @property
    def path_style(self) -> bool | None: ...


@dataclass(frozen=True)
class Credentials:
    """An access key pair; the secret never shows in a repr, a log line or an error message."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def endpoint_host(spec: StoreLocation) -> tuple[str, bool]:
    """(host[:port], secure) from `endpoint` and `insecure`: a scheme in the endpoint wins."""
    endpoint = spec.endpoint.rstrip("/")
    if endpoint.startswith("https://"):
        return endpoint.removeprefix("https://"), True
    if endpoint.startswith("http://"):
        return endpoint.removeprefix("http://"), False
    return endpoint, not spec.insecure


def make_client(
    spec: StoreLocation,
    credentials: Credentials,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    retries: int = 0,
    pool_size: int = 10,
    http: urllib3.PoolManager | None = None,
) -> Minio:
    """A minio client for the store. Retries are the caller's (with its own backoff), so none by default:
    minio's default pool retries 5 times with waits, which hides an unreachable store for half a minute."""
    host, secure = endpoint_host(spec)
    if http is None:
        http = pool(connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries, size=pool_size)
    client = Minio(
        host,
        access_key=credentials.access_key_id,
        secret_key=credentials.secret_access_key,
        secure=secure,
        region=spec.region,
        http_client=http,
    )
    if spec.path_style is True:
        client.disable_virtual_style_endpoint()
    elif spec.path_style is False:
        client.enable_virtual_style_endpoint()
    return client


def pool(*, connect_timeout: float, read_timeout: float, retries: int = 0, size: int = 10) -> urllib3.PoolManager:
    """The HTTP connection pool of a client: bounded connect and read, `retries` with backoff on 5xx."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=size,
        retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])
        if retries
        else False,
    )
