"""Kubernetes Events through kopf's poster (batched, rate-friendly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf


def emit(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(dict(body), type=type_, reason=reason, message=message[:1024])
