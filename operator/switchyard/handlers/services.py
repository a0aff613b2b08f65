"""What the handlers share: one `Services`, built by the startup handler and kept on kopf's memo."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import kopf

from switchyard.config import Options
from switchyard.handlers.triggerloop import TriggerLoop
from switchyard.k8s.artifactstores import StoreChecker
from switchyard.k8s.runtime import Runtime, Views


@dataclass
class Services:
    """The operator's process-wide parts. kopf hands each object's handlers a shallow copy of the memo: this
    one object is shared by all the copies (an attribute set on a copy would be that object's alone)."""

    options: Options
    rt: Runtime
    views: Views
    triggers: TriggerLoop  # the Trigger engine, on the loop it runs in (`run`)
    store_checker: StoreChecker
    # the one breaker flusher, started from a handler's context (`startup.ensure_flusher`)
    flusher: asyncio.Task[None] | None = None
    # what the startup handler started (watches, the ingest server, the CEL workers), stopped last-first on shutdown
    closing: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)


def services(memo: kopf.Memo) -> Services:
    """The memo's services: kopf runs no resource handler before the startup handler has set them."""
    found: Services = memo.services
    return found
