"""Store errors as the few reasons the operator acts on: missing, corrupt, or the store's own trouble.

Store trouble (unreachable, 5xx, 503 SlowDown, an expired or refused signature) is the cluster's fault, not
the Component's: it is retried with backoff and never charged to the circuit breaker. A missing object is
`ArtifactMissing`; bytes that do not match their digest `ArtifactCorrupt`. Messages carry S3 error codes,
keys and buckets, never credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from minio.error import InvalidResponseError, S3Error, ServerError
from urllib3.exceptions import HTTPError

from switchyard.artifacts import manifest as mf

MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})


class StagingFailure(Exception):
    """A failure whose reason is already known (a digest mismatch, a cap)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Classified:
    reason: str
    detail: str


def classify(exc: BaseException) -> Classified:
    """The reason for a failed store operation (see the module docstring)."""
    if isinstance(exc, StagingFailure):
        return Classified(exc.reason, exc.detail)
    if isinstance(exc, S3Error):
        where = "/".join(part for part in (exc.bucket_name, exc.object_name) if part)
        detail = f"{exc.code}: {exc.message} ({where})" if where else f"{exc.code}: {exc.message}"
        if exc.code in MISSING_CODES:
            return Classified(mf.ARTIFACT_MISSING, detail)
        return Classified(mf.STORE_UNAVAILABLE, detail)
    if isinstance(exc, ServerError):
        return Classified(mf.STORE_UNAVAILABLE, f"HTTP {exc.status_code} from the store")
    if isinstance(exc, InvalidResponseError):
        return Classified(mf.STORE_UNAVAILABLE, "the store sent a response that is not S3")
    if isinstance(exc, HTTPError | ConnectionError | TimeoutError):
        return Classified(mf.STORE_UNAVAILABLE, f"the store is unreachable: {type(exc).__name__}")
    if isinstance(exc, mf.ManifestError):
        return Classified(mf.ARTIFACT_CORRUPT, str(exc))
    return Classified(mf.STORE_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, S3Error) and exc.code in MISSING_CODES
