"""An ArtifactStore's spec and credentials -> an S3 client (minio), and what the store answers to a check.

Pure of Kubernetes: `from_objects` takes the ArtifactStore and Secret as the API returned them (dicts), so the
operator (`switchyard.k8s.artifactstores`) and the CLI share it. minio is blocking: callers on an event loop
run these in a thread.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from minio.error import S3Error
from pydantic import ValidationError

from switchyard.artifacts.client import CONNECT_TIMEOUT, READ_TIMEOUT, Credentials, endpoint_host, make_client, pool
from switchyard.models.artifactstore import ArtifactStoreSpec, S3Store

__all__ = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "Credentials", "endpoint_host", "make_client", "pool"]

StoreSpec = S3Store


class StoreError(Exception):
    """An ArtifactStore that cannot be used, with a CamelCase `reason` (SecretMissing, InvalidSpec...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_spec(store: Mapping[str, Any]) -> StoreSpec:
    """The `spec.s3` of an ArtifactStore object (InvalidSpec when it does not validate)."""
    try:
        return ArtifactStoreSpec.model_validate(store.get("spec") or {}).s3
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
        raise StoreError("InvalidSpec", f"invalid spec: {problems}") from None


def credentials_from_secret(spec: StoreSpec, secret: Mapping[str, Any] | None) -> Credentials:
    """The access key from the Secret's data (base64, as the API returns it); SecretMissing names what is not there."""
    ref = spec.credentials_secret_ref
    if secret is None:
        raise StoreError("SecretMissing", f"Secret {ref.name!r} not found")
    data = secret.get("data") or {}
    values = []
    for key in (ref.access_key_id_key, ref.secret_access_key_key):
        if key not in data:
            raise StoreError("SecretMissing", f"Secret {ref.name!r} has no key {key!r}")
        try:
            values.append(base64.b64decode(data[key], validate=True).decode().strip())
        except (binascii.Error, UnicodeDecodeError):
            raise StoreError("SecretMissing", f"Secret {ref.name!r} key {key!r} is not base64 UTF-8 text") from None
    return Credentials(values[0], values[1])


def from_objects(store: Mapping[str, Any], secret: Mapping[str, Any] | None) -> tuple[StoreSpec, Credentials]:
    spec = parse_spec(store)
    return spec, credentials_from_secret(spec, secret)


# S3 error codes -> the Ready condition's reason
ACCESS_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled"}
)


@dataclass(frozen=True)
class CheckResult:
    ready: bool
    reason: str
    message: str


def check_bucket(spec: StoreSpec, credentials: Credentials, *, timeout: float = CONNECT_TIMEOUT) -> CheckResult:
    """Can we reach the bucket with these credentials? One HEAD bucket (no object is read or written).

    Blocking. Reasons: Ready, NoSuchBucket, AccessDenied, Unreachable (connection, timeout, TLS, 5xx).
    """
    http = pool(connect_timeout=timeout, read_timeout=timeout)
    client = make_client(spec, credentials, http=http)
    where = f"bucket {spec.bucket!r} at {spec.endpoint}"
    try:
        exists = client.bucket_exists(spec.bucket)
    except S3Error as error:
        if error.code in ACCESS_CODES:
            return CheckResult(False, "AccessDenied", f"{where}: access denied ({error.code}) for these credentials")
        if error.code == "NoSuchBucket":
            return CheckResult(False, "NoSuchBucket", f"{where} does not exist")
        return CheckResult(False, "Unreachable", f"{where}: {error.code}: {error.message}")
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
        return CheckResult(False, "Unreachable", f"{where} is unreachable: {describe_connection_error(error)}")
    finally:
        client._http.clear()
    if not exists:
        return CheckResult(False, "NoSuchBucket", f"{where} does not exist")
    return CheckResult(True, "Ready", f"{where} is reachable with the credentials")


def describe_connection_error(error: BaseException) -> str:
    """A short text for a connection failure (urllib3 nests the cause; its repr is long)."""
    reason = getattr(error, "reason", None)
    if reason is not None:
        return f"{type(reason).__name__}: {reason}"[:300]
    return f"{type(error).__name__}: {error}"[:300]
