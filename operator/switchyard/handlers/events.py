"""Kubernetes Events through kopf's poster (batched, rate-friendly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf

from switchyard.logic.limits import EVENT_MESSAGE_BYTES, cut_utf8


def emit(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    """Post an Event; its message cut to the API server's 1024 **bytes** (kopf cuts at 1024 characters, which
    multibyte text overruns: the API server then refuses the Event and kopf only logs it)."""
    kopf.event(cast(kopf.Body, dict(body)), type=type_, reason=reason, message=cut_utf8(message, EVENT_MESSAGE_BYTES))
