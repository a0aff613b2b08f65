"""Component statistics (`Component.status.stats`): run counts, recent failure rate and duration percentiles.

Kept by the operator (`switchyard.logic.stats` decides, `switchyard.k8s.stats` persists); read by the planner
(learned runtime estimates) and by RoutingRules (`components.NAME.failureRate`, `.duration.p90`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from switchyard.models.common import StatusModel, Timestamp

WINDOW = 100  # attempts (outcomes) and successful-run durations kept in the window


class DurationStats(StatusModel):
    """Percentiles (nearest rank) of the successful runs' durations in the window, in seconds."""

    p50: Annotated[float, Field(ge=0, description="The median run time, seconds.")] = 0
    p90: Annotated[float, Field(ge=0, description="90 % of the recent runs took at most this long, seconds.")] = 0
    p99: Annotated[float, Field(ge=0, description="99 % of the recent runs took at most this long, seconds.")] = 0


class StatsWindow(StatusModel):
    """The recent attempts, persisted compactly so a restarted operator continues from them."""

    outcomes: Annotated[str, StringConstraints(max_length=WINDOW, pattern="^[SF]*$")] = Field(
        default="",
        description=f"The last {WINDOW} counted attempts, oldest first: S succeeded, F failed (charged to the "
        "component).",
    )
    seconds: Annotated[list[Annotated[float, Field(ge=0)]], Field(max_length=WINDOW)] = Field(
        default=[],
        description=f"Run times (container start to finish, seconds) of the last {WINDOW} successful runs, oldest "
        "first.",
    )


class ComponentStats(StatusModel):
    """What the operator observed of this component's Jobs since its spec last changed."""

    runs: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Attempts that ran to a verdict (succeeded, or failed by the component's fault) since the "
        "last reset. Attempts the cluster ended (disruption, quota, lost Pod, pending timeout of the cluster) "
        "and cache hits are not runs.",
    )
    failures: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Runs that failed by the component's fault (the circuit breaker's classification) since the "
        "last reset.",
    )
    failure_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0, description=f"Failed share of the last {WINDOW} runs (the window), 0 to 1."
    )
    duration: DurationStats | None = Field(
        default=None, description="Run time percentiles over the window's successful runs; unset before the first."
    )
    last_updated: Timestamp | None = Field(default=None, description="When a run was last counted.")
    window: StatsWindow = Field(
        default_factory=StatsWindow, description="The recent runs the rate and percentiles are computed from."
    )
