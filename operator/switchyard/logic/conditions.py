"""Kubernetes-style status conditions (metav1.Condition semantics) and the `done/total` progress string."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from switchyard.models.common import Condition, ConditionStatus
from switchyard.models.common import truncate as truncate  # re-exported: the one truncation helper

DONE_PHASES = frozenset({"Succeeded", "FellBack", "Failed", "Skipped"})


def _max_length(field: str) -> int:
    """The schema's maxLength of a Condition field: one source for the limit."""
    for constraint in Condition.model_fields[field].metadata:
        max_length = getattr(constraint, "max_length", None)
        if isinstance(max_length, int):
            return max_length
    raise LookupError(f"Condition.{field} has no max length")  # pragma: no cover - schema guard


MAX_CONDITION_MESSAGE = _max_length("message")
MAX_CONDITION_REASON = _max_length("reason")


def get_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    """The condition of this type, if any."""
    return next((condition for condition in conditions if condition.type == type), None)


def set_condition(
    conditions: Sequence[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """A new list with the condition of `type` replaced (same position) or appended.

    `lastTransitionTime` moves to `now` only when the status changes (or the condition is new).
    """
    old = get_condition(conditions, type)
    unchanged = old is not None and old.status == status and old.last_transition_time is not None
    transition = old.last_transition_time if unchanged and old is not None else now
    new = Condition(
        type=type,
        status=status,
        reason=truncate(reason, MAX_CONDITION_REASON),
        message=truncate(message, MAX_CONDITION_MESSAGE),
        last_transition_time=transition,
        observed_generation=generation,
    )
    if old is None:
        return [*conditions, new]
    return [new if condition.type == type else condition for condition in conditions]


def progress(phases: Iterable[str], total: int) -> str:
    """`done/total`, where done counts nodes in a final phase (Succeeded, FellBack, Failed, Skipped)."""
    done = sum(1 for phase in phases if phase in DONE_PHASES)
    return f"{done}/{total}"
