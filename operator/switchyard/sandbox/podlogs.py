"""The Pod ``log`` subresource of the emulated API server: the container is chosen and checked as the API server
does, a log source's bytes are served whole or, with ``follow=true``, streamed until the container ends.

A log source (``ApiServer.log_sources``, the local runner's ``pod_log``) answers ``(namespace, pod, container)``
with a ``ContainerLog`` or None (not a Pod it ran). Without one the log is the container's termination message
(the job simulator's output). Not modelled: ``limitBytes``, ``sinceSeconds``, ``timestamps``; ``previous`` is
always the API server's "not found" (the sandbox's Pods never restart a container).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

POLL_SECONDS = 0.1  # how often a followed log is read for new bytes
MAX_READ = 1 << 20


class ContainerLog(Protocol):
    """One container's output as it grows."""

    def read(self, offset: int, size: int = MAX_READ) -> bytes:
        """Up to ``size`` bytes from ``offset`` (what is there now)."""

    def waiting(self) -> str | None:
        """The reason the container has not started (``PodInitializing``, ...), or None once it has."""

    def finished(self) -> bool:
        """Whether the container has ended (no more output will come)."""


LogSource = Callable[[str, str, str], ContainerLog | None]


class LogError(Exception):
    """A log request the API server refuses (400 BadRequest)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def choose_container(pod: Mapping[str, Any], params: Mapping[str, str]) -> str:
    """The ``container`` parameter, checked; the only container when there is one, else the API's 400."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    inits = [str(c.get("name", "")) for c in spec.get("initContainers") or []]
    wanted = params.get("container")
    if wanted:
        if wanted not in containers and wanted not in inits:
            raise LogError(400, f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(containers) == 1:
        return containers[0]
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise LogError(400, message)


def check_previous(pod: Mapping[str, Any], container: str, params: Mapping[str, str]) -> None:
    if params.get("previous") in ("true", "1"):
        name = pod["metadata"]["name"]
        raise LogError(400, f'previous terminated container "{container}" in pod "{name}" not found')


def termination_message(pod: Mapping[str, Any], container: str) -> bytes:
    """The container's termination message (the job simulator's output), with a final newline."""
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if cs.get("name") == container:
            message = ((cs.get("state") or {}).get("terminated") or {}).get("message") or ""
            if message:
                return (message if message.endswith("\n") else message + "\n").encode()
    return b""


def tail(data: bytes, tail_lines: str | None) -> bytes:
    """The last ``tailLines`` lines (all when absent or not a number)."""
    if tail_lines is None or not tail_lines.isdigit():
        return data
    lines = data.splitlines(keepends=True)
    return b"".join(lines[len(lines) - min(len(lines), int(tail_lines)) :])


def read_all(log: ContainerLog, offset: int = 0) -> bytes:
    chunks = []
    while chunk := log.read(offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


async def follow(
    log: ContainerLog, first: bytes, offset: int, stopped: Callable[[], bool], closed: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """``first``, then the bytes written after ``offset`` as they come, until the container has finished (and
    everything it wrote is sent), the server stops or the client hangs up."""
    yield first
    while not stopped() and not closed():
        finished = log.finished()  # read after this: nothing written before the end is missed
        chunk = await asyncio.to_thread(log.read, offset)
        if chunk:
            offset += len(chunk)
            yield chunk
            continue
        if finished:
            return
        await asyncio.sleep(POLL_SECONDS)
