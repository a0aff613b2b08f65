"""One `switchyard dev` per sandbox directory: a lock file holding the running one's PID and kubeconfig.

``acquire(directory, kubeconfig)`` creates ``<directory>/dev.lock`` atomically (``O_EXCL``); when it exists and
its PID is alive the second sandbox refuses with ``Locked`` (naming that PID and kubeconfig) instead of
overwriting the first one's files. A lock whose PID is gone (the first was SIGKILLed) is stale: it is replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

LOCK_NAME = "dev.lock"


class Locked(RuntimeError):
    """Another `switchyard dev` runs on this directory."""

    def __init__(self, holder: Holder, directory: pathlib.Path) -> None:
        super().__init__(
            f"another switchyard dev is running on {directory} (PID {holder.pid}, kubeconfig {holder.kubeconfig}): "
            f"use it (export KUBECONFIG={holder.kubeconfig}), stop it (kill {holder.pid}), or give this one "
            "another --dir"
        )
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """What the lock file says."""

    pid: int
    kubeconfig: str


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (one of another user counts: it may hold the lock)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(path: pathlib.Path) -> Holder | None:
    """The lock's holder, or None for a lock that is unreadable or half written (treated as stale)."""
    try:
        data = json.loads(path.read_text())
        return Holder(int(data["pid"]), str(data.get("kubeconfig", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def acquire(directory: pathlib.Path, kubeconfig: pathlib.Path) -> Iterator[Holder | None]:
    """Hold the directory's lock while the block runs; yields the stale holder it replaced (or None)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    mine = json.dumps({"pid": os.getpid(), "kubeconfig": str(kubeconfig)})
    stale: Holder | None = None
    for _ in range(2):  # the second try after removing a stale lock
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = read(path)
            if holder is not None and holder.pid != os.getpid() and alive(holder.pid):
                raise Locked(holder, directory) from None
            stale = holder or Holder(0, "")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(mine)
        break
    else:
        holder = read(path) or Holder(0, "")
        raise Locked(holder, directory)
    try:
        yield stale
    finally:
        if path.exists() and read(path) == Holder(os.getpid(), str(kubeconfig)):
            path.unlink()
