"""The emulated API server's failures: ``ApiError`` rendered as a ``kind: Status`` body, and the common ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from switchyard.sandbox.faults import STATUS_REASONS

if TYPE_CHECKING:
    from switchyard.sandbox.apiserver.registry import ResourceType


class ApiError(Exception):
    """An API failure rendered as a ``kind: Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or STATUS_REASONS.get(code, "Unknown")
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        f'{rtype.qualified} "{name}" not found',
        details={"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def conflict(rtype: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rtype.qualified} "{name}": {why}',
        reason="Conflict",
        details={"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def invalid(rtype: ResourceType, name: str | None, message: str) -> ApiError:
    return ApiError(
        422,
        f'{rtype.kind}.{rtype.group or "core"} "{name or ""}" is invalid: {message}',
        reason="Invalid",
        details={"name": name or "", "group": rtype.group, "kind": rtype.kind},
    )


def no_resource(what: str | None = None) -> ApiError:
    """The 404 for a path that names no served resource (``what``: the subresource asked for)."""
    suffix = f" ({what})" if what else ""
    return ApiError(404, f"the server could not find the requested resource{suffix}")
