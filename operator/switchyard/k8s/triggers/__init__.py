"""Triggers at run time: `engine` (the front the handlers and the ingest server use), `state` (one object
per Trigger), `batches` (the crash-safe batch protocol), `runs` (admission, counting, history pruning)."""

from switchyard.k8s.triggers.engine import Outcome, TriggerEngine
from switchyard.k8s.triggers.state import TriggerEntry

__all__ = ["Outcome", "TriggerEngine", "TriggerEntry"]
