"""The Kubernetes API's error answers by name: `not_found(exc)` instead of `exc.status == 404`.

Each predicate takes any exception and is true only for the client's `ApiException` with that answer, so it
reads the same in an `except ApiException` block and on an error from a gathered result. What the API server
said (its metav1.Status) is read here too: the reason, the message for users, a Retry-After.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
CONFLICT = 409
GONE = 410
REQUEST_TOO_LARGE = 413
INVALID = 422
TOO_MANY_REQUESTS = 429
INTERNAL_ERROR = 500
ETCD_TOO_LARGE = "etcdserver: request is too large"  # a 500 for an object over etcd's 1.5 MiB: permanent


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error; None for anything else (a socket error, a timeout)."""
    return exc.status if isinstance(exc, ApiException) else None


def not_found(exc: BaseException) -> bool:
    return status_of(exc) == NOT_FOUND


def conflict(exc: BaseException) -> bool:
    """409: the object exists already (`already_exists`) or the write's resourceVersion is stale."""
    return status_of(exc) == CONFLICT


def already_exists(exc: BaseException) -> bool:
    """409 AlreadyExists: a create of a name that is taken (an answer, never trouble to retry)."""
    return conflict(exc) and isinstance(exc, ApiException) and status_reason(exc) == "AlreadyExists"


def gone(exc: BaseException) -> bool:
    """410: a watch's or a list continuation's resourceVersion is too old (list again)."""
    return status_of(exc) == GONE


def forbidden(exc: BaseException) -> bool:
    return status_of(exc) == FORBIDDEN


def unauthorized(exc: BaseException) -> bool:
    return status_of(exc) == UNAUTHORIZED


def rejected(exc: BaseException) -> bool:
    """400 or 422: the API refused the object itself (malformed, invalid); sending it again cannot help."""
    return status_of(exc) in (BAD_REQUEST, INVALID)


def invalid(exc: BaseException) -> bool:
    """422: the object fails validation (or a precondition such as a stale Lease update)."""
    return status_of(exc) == INVALID


def too_many_requests(exc: BaseException) -> bool:
    return status_of(exc) == TOO_MANY_REQUESTS


def status_body(exc: ApiException) -> dict[str, Any]:
    """The metav1.Status the API server sent with an error ({} when the body is not one)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def status_reason(exc: ApiException) -> str:
    """`AlreadyExists`, `Conflict`, `Forbidden`, `Invalid`...: the Status reason ('' when absent)."""
    return str(status_body(exc).get("reason") or "")


def api_message(exc: ApiException) -> str:
    """What the API server said, for users: the Status message, else the HTTP reason."""
    return str(status_body(exc).get("message") or f"HTTP {exc.status} {exc.reason}")


def is_too_large(exc: BaseException) -> bool:
    """The write made the object larger than etcd takes (500 `etcdserver: request is too large`, or the API
    server's own 413 for a request body over 3 MiB): retrying the same write cannot help."""
    if not isinstance(exc, ApiException):
        return False
    return exc.status == REQUEST_TOO_LARGE or (exc.status == INTERNAL_ERROR and ETCD_TOO_LARGE in api_message(exc))


def retry_after(exc: ApiException) -> float | None:
    value = (exc.headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
