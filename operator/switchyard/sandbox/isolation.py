"""How a sandbox container's process is started: isolated by bubblewrap, or (built-in processors only) not.

With ``bwrap`` on PATH every container runs in its own mount, PID, IPC and UTS namespaces and user namespace
(``--unshare-user --uid N``): a fresh root holding the host's userland read-only (``/usr``, ``/bin``, ``/lib*``,
``/etc``, this interpreter and the installed switchyard), each volumeMount bound from the Pod's own directory
at its mountPath, the container's termination log at its ``terminationMessagePath`` and a private ``/tmp``
unless a volume is mounted there. Nothing else of the host is visible, so nothing else can be written. Images
are not pulled: the command runs with the host's programs.

Without bwrap (macOS, or a Linux without it) only the switchyard image's commands run, unisolated as before:
each mountPath is a symlink under a per-container directory and ``SWITCHYARD_ROOT`` / ``SWITCHYARD_TERMINATION_LOG``
point the processors there. Any other command is refused with ``HOW_TO_GET_BWRAP``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HOW_TO_GET_BWRAP = (
    "install bubblewrap to run other images' commands isolated (Debian/Ubuntu: apt-get install bubblewrap; "
    "Fedora: dnf install bubblewrap; it needs Linux)"
)
# The host's userland a container sees read-only (a symlink stays a symlink: merged /usr on Debian).
HOST_USERLAND = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOST_ENV = ("LANG", "LC_ALL", "PYTHONPATH")


def find_bwrap() -> str | None:
    """The bubblewrap executable, or None where it is not installed."""
    return shutil.which("bwrap")


@dataclass(frozen=True)
class Mount:
    """A volumeMount resolved to the Pod directory that holds the volume."""

    source: pathlib.Path
    target: str  # the mountPath inside the container
    read_only: bool


@dataclass(frozen=True)
class Layout:
    """Where one container's paths live on the host."""

    mounts: Sequence[Mount]
    termination_log: pathlib.Path  # host file behind terminationMessagePath
    termination_path: str  # terminationMessagePath inside the container
    tmp: pathlib.Path  # a private /tmp when no volume is mounted there
    home: pathlib.Path  # the container's own directory (cwd when unisolated)


def _python_dirs() -> list[str]:
    """Directories this interpreter and its installed packages live in (the venv, the base Python, editable
    sources): bound read-only so ``python`` and the built-in processors run inside the sandbox."""
    candidates = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    candidates.update(p for p in sys.path if p and os.path.isdir(p))
    covered: list[str] = []
    for path in sorted((os.path.realpath(c) for c in candidates), key=len):
        if any(path == c or path.startswith(c.rstrip("/") + "/") for c in (*covered, *HOST_USERLAND)):
            continue
        covered.append(path)
    return covered


def container_env(env: Mapping[str, str], layout: Layout, isolated: bool) -> dict[str, str]:
    """The process environment: a container's PATH, HOME and TMPDIR, the host's locale, then the container's env."""
    tmp = next((m for m in layout.mounts if m.target.rstrip("/") == "/tmp"), None)
    full = {key: os.environ[key] for key in _HOST_ENV if key in os.environ}
    full["PATH"] = f"{os.path.dirname(sys.executable)}:{CONTAINER_PATH}"
    if isolated:
        full.update({"HOME": "/tmp", "TMPDIR": "/tmp"})
    else:
        host_tmp = str(tmp.source if tmp is not None else layout.tmp)
        full.update({"HOME": host_tmp, "TMPDIR": host_tmp})
    full.update(env)
    if not isolated:  # the processors' paths are moved, as the contract allows for tests and the sandbox
        root = next((m for m in layout.mounts if m.target.rstrip("/") == "/switchyard"), None)
        if root is not None:
            full["SWITCHYARD_ROOT"] = str(layout.home / "fs" / "switchyard")
        full["SWITCHYARD_TERMINATION_LOG"] = str(layout.termination_log)
    return full


def bwrap_argv(
    bwrap: str,
    argv: Sequence[str],
    layout: Layout,
    *,
    uid: int,
    gid: int,
    hostname: str,
    info_fd: int,
    workdir: str = "/",
) -> list[str]:
    """``bwrap ... -- argv``: the namespaces, the read-only userland, the Pod's mounts (see module docstring).

    ``--as-pid-1``: the command is PID 1 of its namespace, as in a container, so a SIGTERM it does not handle
    is ignored until the grace period's SIGKILL; ``--info-fd`` tells the runner that PID to signal.
    """
    args = [bwrap, "--die-with-parent", "--as-pid-1", "--info-fd", str(info_fd)]
    args += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", hostname]
    for path in HOST_USERLAND:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if not any(m.target.rstrip("/") == "/tmp" for m in layout.mounts):
        args += ["--bind", str(layout.tmp), "/tmp"]
    for mount in sorted(layout.mounts, key=lambda m: m.target.count("/")):  # parents before children
        args += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
    for path in _python_dirs():  # after the mounts: a volume mounted over a parent (/work) does not hide them
        args += ["--ro-bind", path, path]
    args += ["--bind", str(layout.termination_log), layout.termination_path]
    args += ["--chdir", workdir, "--", *argv]
    return args


def symlink_mounts(layout: Layout) -> pathlib.Path:
    """Unisolated: ``<home>/fs/<mountPath>`` symlinks to the volumes (emptyDirs shared between containers)."""
    fs = layout.home / "fs"
    for mount in layout.mounts:
        link = fs / mount.target.strip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(mount.source, target_is_directory=True)
    fs.mkdir(parents=True, exist_ok=True)
    return fs
