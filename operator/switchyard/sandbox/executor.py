"""The seam between the job simulator and what runs a Pod's containers: ``PodExecutor``.

``JobSimulator`` is the job controller and the kubelet's bookkeeping (the Pod, its phases, the Job status);
an executor decides how the containers of a started Pod run and end. ``SimulatedExecutor`` (the default) ends
each Pod after its ``Outcome``'s delay; the local runner's (``runner.LocalExecutor``) really runs them.
``Host`` is what an executor may use of the simulator that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import kubernetes

    from switchyard.sandbox.simbase import Run


class Host(Protocol):
    """The simulator, as an executor sees it."""

    delay: float  # seconds a Pod runs when its Outcome gives no delay

    @property
    def core(self) -> kubernetes.client.CoreV1Api: ...

    def schedule(self, due: float, action: Callable[[], None]) -> None:
        """Run ``action`` on a worker thread at ``due`` (``time.monotonic()``)."""

    def finish(self, run: Run, deadline_exceeded: bool) -> None:
        """The Pod's main container ended as ``run.outcome`` says (``deadline_exceeded``: it was killed for it)."""

    def patch_pod_status(self, run: Run, status: dict[str, Any]) -> None: ...

    def record_error(self, error: BaseException) -> None: ...


class PodExecutor(Protocol):
    """How the containers of a started Pod run; every method is called from the simulator's threads."""

    def start(self, host: Host) -> None:
        """Before the simulator watches Jobs."""

    def stop(self) -> None:
        """When the simulator stops (before its threads are joined): end whatever still runs."""

    def running_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        """The Pod status written when the run starts (``status``: all containers running)."""

    def launch(self, run: Run, deadline: float | None) -> None:
        """Run the Pod's containers; when they end, set ``run.outcome`` and call ``host.finish``. ``deadline``:
        seconds left of the Job's ``activeDeadlineSeconds`` (the simulator's own timer may end it first)."""

    def cancel(self, run: Run) -> None:
        """The Job was deleted: stop what runs for it."""

    def kill(self, run: Run) -> None:
        """The Job's deadline passed: stop its Pod's containers (the simulator fails the Job)."""

    def sidecars_keep_running(self, run: Run) -> bool:
        """Whether the Pod's other containers outlive the main one (then the Pod stays Running)."""

    def final_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        """The Pod status written when the run ends (``status``: the main container's)."""


class SimulatedExecutor:
    """No container runs: the Pod ends after its Outcome's delay; an injected sidecar keeps running after it."""

    def __init__(self) -> None:
        self._host: Host | None = None

    def start(self, host: Host) -> None:
        self._host = host

    def stop(self) -> None:
        return None

    def running_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        return status

    def launch(self, run: Run, deadline: float | None) -> None:
        host = self._host
        assert host is not None, "the executor is not started"
        delay = run.outcome.delay if run.outcome.delay is not None else host.delay
        host.schedule(run.started_at + delay, lambda: host.finish(run, deadline_exceeded=False))

    def cancel(self, run: Run) -> None:
        return None  # a timer that finds ``run.done`` does nothing

    def kill(self, run: Run) -> None:
        return None

    def sidecars_keep_running(self, run: Run) -> bool:
        return len(run.containers) > 1

    def final_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        return status
