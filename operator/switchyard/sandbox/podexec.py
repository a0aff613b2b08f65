"""Run one Pod's containers on this machine in the kubelet's order, recording their statuses as it does.

``PodExecution.run`` prepares the Pod's directory (every volume under ``volumes/<name>``: emptyDirs empty and
shared by the Pod's containers, ConfigMap/downwardAPI/projected volumes written as ``volumes.volume_files``
says), then:

1. ``initContainers`` in order. One with ``restartPolicy: Always`` is a native sidecar: started and left
   running. Any other must exit 0 before the next starts; when one fails the Pod fails with its terminated
   state (exit code, reason, termination message) in ``initContainerStatuses``, the containers after it
   waiting with ``PodInitializing``.
2. The regular ``containers``, all at once; the Pod's phase comes from them only.
3. Once they have all exited the sidecars get SIGTERM, latest first, and SIGKILL when
   ``terminationGracePeriodSeconds`` (default 30) runs out; their exit codes do not change the phase.

``activeDeadlineSeconds`` bounds the whole run (everything is killed). Each container has its own env (plain
values, downwardAPI ``fieldRef``s, ``secretKeyRef`` and ``configMapKeyRef`` read through ``read_data``; a
missing non-optional one leaves the container waiting with ``CreateContainerConfigError`` and the Pod
Pending, as on a kubelet), its own volumeMounts, termination log and output file (``<log_dir>/<container>.log``,
stdout and stderr); its termination message is cut by the kubelet's rules (``kubelet.termination_message``).
How a process is started, isolated or not, is ``isolation.py``'s business.
Not modelled: container restarts (a sidecar that exits stays terminated), probes, ``envFrom``, subPath.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchyard.sandbox import isolation
from switchyard.sandbox.kubelet import termination_message
from switchyard.sandbox.volumes import VolumeError, field_ref, volume_files

LOG_TAIL_BYTES = 4096  # of a container's output read for FallbackToLogsOnError (the kubelet keeps <= 2048)
GRACE_SECONDS = 30.0
SANDBOX_IMAGES = ("switchyard",)
NOT_RUNNABLE = "sandbox runs only commands available locally:"
_PYTHONS = ("python", "python3", f"python3.{sys.version_info.minor}")

ReadData = Callable[[str, str], Mapping[str, str] | None]  # ("secret" | "configmap", name) -> data, None: missing
ReadConfigMap = Callable[[str], Mapping[str, str] | None]


class NotRunnable(Exception):
    """The container cannot run on this machine (its executable is not here, or it would run unisolated)."""


class ContainerConfigError(Exception):
    """The kubelet cannot create the container (an env var from a Secret or ConfigMap that is missing)."""


PROBE_INTERVAL = 0.05  # how often a sidecar's startupProbe is tried (`_until_started`)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_name(image: str) -> str:
    """The repository's last path segment, without tag or digest: ``ghcr.io/x/switchyard:0.1.0`` -> switchyard."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def local_argv(
    container: Mapping[str, Any], images: Sequence[str] = SANDBOX_IMAGES, *, isolated: bool = False
) -> list[str]:
    """The container's command + args with the executable resolved on this machine; ``NotRunnable`` if it cannot
    run. Isolated, any image's command that exists here runs (images are not pulled); unisolated, only the
    switchyard image's."""
    image = str(container.get("image", ""))
    if not isolated and image_name(image) not in images:
        raise NotRunnable(
            f"{NOT_RUNNABLE} image {image!r} is not the switchyard image ({', '.join(images)}) and bubblewrap "
            f"(bwrap) is not installed (or cannot isolate here), so it would run unisolated; "
            f"{isolation.HOW_TO_GET_BWRAP}"
        )
    if not container.get("command"):
        raise NotRunnable(f"{NOT_RUNNABLE} the container has no command (the image's entrypoint is unknown here)")
    argv = [str(a) for a in container.get("command") or []] + [str(a) for a in container.get("args") or []]
    if argv[0] in _PYTHONS:
        return [sys.executable, *argv[1:]]
    search = f"{os.path.dirname(sys.executable)}:{isolation.CONTAINER_PATH}"
    executable = shutil.which(argv[0], path=search)
    if executable is None:
        raise NotRunnable(
            f"{NOT_RUNNABLE} executable {argv[0]!r} is not found on this machine "
            "(images are not pulled: a container runs the host's programs)"
        )
    return [executable, *argv[1:]]


def resolve_env(container: Mapping[str, Any], pod_metadata: Mapping[str, Any], read: ReadData) -> dict[str, str]:
    """``env`` of the container, as the kubelet resolves it; ``ContainerConfigError`` for a missing source."""
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        source = var.get("valueFrom") or {}
        if "value" in var or not source:
            env[var["name"]] = str(var.get("value") or "")
        elif field_path := (source.get("fieldRef") or {}).get("fieldPath"):
            env[var["name"]] = field_ref(pod_metadata, field_path)
        for kind, key in (("secret", "secretKeyRef"), ("configmap", "configMapKeyRef")):
            if (ref := source.get(key)) is None:
                continue
            data = read(kind, ref.get("name", ""))
            if data is not None and ref.get("key") in data:
                env[var["name"]] = data[ref["key"]]
            elif not ref.get("optional"):
                label = "secret" if kind == "secret" else "configmap"
                what = f'{label} "{ref.get("name")}" not found'
                if data is not None:
                    what = f"couldn't find key {ref.get('key')} in {label} {ref.get('name')}"
                raise ContainerConfigError(what)
    return env


def _state(**state: Any) -> dict[str, Any]:
    """A container state with the other two states nulled (a strategic merge patch then drops them)."""
    return {"waiting": None, "running": None, "terminated": None, **state}


@dataclass
class Container:
    """One container of the Pod and what happened to it."""

    spec: Mapping[str, Any]
    kind: str  # "init", "sidecar" or "main"
    home: pathlib.Path
    log_path: pathlib.Path
    proc: subprocess.Popen[bytes] | None = None
    pid1: int | None = None  # isolated: its PID 1, the process a SIGTERM is for
    started_at: str = ""
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", "main"))

    def set_state(self, state: dict[str, Any], *, ready: bool = False, started: bool = False) -> None:
        self.status = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": ready,
            "restartCount": 0,
            "started": started,
            "state": state,
        }

    @property
    def exit_code(self) -> int | None:
        return ((self.status.get("state") or {}).get("terminated") or {}).get("exitCode")


@dataclass(frozen=True)
class PodResult:
    """The end of a run: the phase's inputs and every container's status."""

    succeeded: bool
    deadline_exceeded: bool
    exit_code: int
    reason: str
    message: str
    init_statuses: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    waiting: str | None = None  # the Pod stays Pending (CreateContainerConfigError, ContainerCreating)


class PodExecution:
    """See the module docstring. ``on_status(pod_status)`` gets each change (phase + container statuses);
    ``on_process(proc)`` each started process; ``cancel()`` (the Job was deleted) kills everything."""

    def __init__(
        self,
        pod_spec: Mapping[str, Any],
        pod_metadata: Mapping[str, Any],
        *,
        pod_dir: pathlib.Path,
        log_dir: pathlib.Path,
        read_data: ReadData,
        bwrap: str | None,
        images: Sequence[str] = SANDBOX_IMAGES,
        on_status: Callable[[dict[str, Any]], None] = lambda _: None,
        on_process: Callable[[subprocess.Popen[bytes]], None] = lambda _: None,
    ) -> None:
        self.spec, self.metadata = pod_spec, pod_metadata
        self.pod_dir, self.log_dir = pod_dir, log_dir
        self.read_data, self.bwrap, self.images = read_data, bwrap, tuple(images)
        self.on_status, self.on_process = on_status, on_process
        self.cancelled = threading.Event()
        self.done = threading.Event()  # the run has returned
        self._lock = threading.Lock()
        inits = [
            Container(c, "sidecar" if c.get("restartPolicy") == "Always" else "init", *self._paths(c))
            for c in pod_spec.get("initContainers") or []
        ]
        self.inits = inits
        self.mains = [Container(c, "main", *self._paths(c)) for c in pod_spec.get("containers") or [{}]]
        for container in (*inits, *self.mains):
            container.set_state(_state(waiting={"reason": "PodInitializing"}))

    def _paths(self, spec: Mapping[str, Any]) -> tuple[pathlib.Path, pathlib.Path]:
        name = str(spec.get("name", "main"))
        return self.pod_dir / "containers" / name, self.log_dir / f"{name}.log"

    # -- what the runner reads ------------------------------------------------------------------------------

    def processes(self) -> list[subprocess.Popen[bytes]]:
        with self._lock:
            return [c.proc for c in (*self.inits, *self.mains) if c.proc is not None]

    def container(self, name: str) -> Container | None:
        return next((c for c in (*self.inits, *self.mains) if c.name == name), None)

    def waiting(self, name: str) -> str | None:
        """Why the named container has not started (its waiting reason), None once it has."""
        container = self.container(name)
        if container is None or container.proc is not None or container.exit_code is not None:
            return None
        return str(((container.status.get("state") or {}).get("waiting") or {}).get("reason") or "ContainerCreating")

    def finished(self, name: str) -> bool:
        """Whether the named container has ended, or the Pod's run has (it will not start then)."""
        container = self.container(name)
        return self.done.is_set() or container is None or container.exit_code is not None

    def pod_status(self, phase: str) -> dict[str, Any]:
        status: dict[str, Any] = {"phase": phase, "containerStatuses": [c.status for c in self.mains]}
        if self.inits:
            status["initContainerStatuses"] = [c.status for c in self.inits]
        return status

    def cancel(self) -> None:
        self.cancelled.set()
        for proc in self.processes():
            kill_group(proc)

    # -- the run --------------------------------------------------------------------------------------------

    def run(self, timeout: float | None) -> PodResult:
        try:
            return self._run(timeout)
        finally:
            self.done.set()

    def _run(self, timeout: float | None) -> PodResult:
        deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            mounts = self._prepare_volumes()
        except VolumeError as e:
            return self._stuck(self.mains[0], "ContainerCreating", str(e))
        try:
            for container in self.inits:
                if self.cancelled.is_set():
                    return self._result(deadline_exceeded=False)
                self._start(container, mounts)
                if container.kind == "sidecar":
                    self._until_started(container, mounts)
                    self.on_status(self.pod_status("Pending"))
                    continue
                self.on_status(self.pod_status("Pending"))
                if not self._wait([container], deadline):
                    return self._expire()
                self.on_status(self.pod_status("Pending"))
                if container.exit_code != 0:
                    self._stop_sidecars()
                    return self._result(deadline_exceeded=False, failed_init=container)
            for container in self.mains:
                self._start(container, mounts)
            self.on_status(self.pod_status("Running"))
            if not self._wait(self.mains, deadline):
                return self._expire()
            self._stop_sidecars()
        except ContainerConfigError as e:
            stuck = next(c for c in (*self.inits, *self.mains) if c.proc is None and c.exit_code is None)
            self._kill_all()  # what started (sidecars, earlier containers) does not outlive the stuck Pod
            return self._stuck(stuck, "CreateContainerConfigError", str(e))
        return self._result(deadline_exceeded=False)

    def _until_started(self, container: Container, volumes: Mapping[str, pathlib.Path]) -> None:
        """A native sidecar's `startupProbe`, as the kubelet holds the next containers back for it, in the one
        form this runner can check: `exec: test -e PATH` with PATH on one of the sidecar's volume mounts, while
        isolated (unisolated a container's absolute paths are the host's). It is tried until it passes, the
        sidecar exits, or `periodSeconds x failureThreshold` has gone by (then the Pod goes on, as before)."""
        probe = container.spec.get("startupProbe") or {}
        command = (probe.get("exec") or {}).get("command") or []
        if self.bwrap is None or len(command) != 3 or list(command[:2]) != ["test", "-e"]:
            return
        target = pathlib.PurePosixPath(str(command[2]))
        host: pathlib.Path | None = None
        for mount in container.spec.get("volumeMounts") or []:
            base = pathlib.PurePosixPath(mount["mountPath"])
            if mount["name"] in volumes and target.is_relative_to(base):
                host = volumes[mount["name"]] / target.relative_to(base)
        if host is None:
            return
        limit = time.monotonic() + float(probe.get("periodSeconds", 10)) * float(probe.get("failureThreshold", 3))
        while not host.exists() and time.monotonic() < limit:
            proc = container.proc
            if proc is None or proc.poll() is not None or self.cancelled.wait(PROBE_INTERVAL):
                return

    def _prepare_volumes(self) -> dict[str, pathlib.Path]:
        """Each volume's directory; mountPaths are checked against the Pod's volumes."""
        volumes: dict[str, pathlib.Path] = {}
        read_configmap: ReadConfigMap = lambda name: self.read_data("configmap", name)  # noqa: E731
        read_secret: ReadConfigMap = lambda name: self.read_data("secret", name)  # noqa: E731
        for volume in self.spec.get("volumes") or []:
            directory = self.pod_dir / "volumes" / volume["name"]
            directory.mkdir(parents=True, exist_ok=True)
            write_files(directory, volume_files(volume, self.metadata, read_configmap, read_secret))
            volumes[volume["name"]] = directory
        for container in (*self.inits, *self.mains):
            for mount in container.spec.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    raise VolumeError(f'volume "{mount["name"]}" is mounted but not declared')
        return volumes

    def _layout(self, container: Container, volumes: Mapping[str, pathlib.Path]) -> isolation.Layout:
        container.home.mkdir(parents=True, exist_ok=True)
        (container.home / "tmp").mkdir(exist_ok=True)
        termination_log = container.home / "termination-log"
        termination_log.touch()
        mounts = [
            isolation.Mount(volumes[m["name"]], m["mountPath"], bool(m.get("readOnly")))
            for m in container.spec.get("volumeMounts") or []
        ]
        path = str(container.spec.get("terminationMessagePath") or "/dev/termination-log")
        return isolation.Layout(mounts, termination_log, path, container.home / "tmp", container.home)

    def _user(self, container: Container) -> tuple[int, int]:
        """(uid, gid) from the container's securityContext, else the Pod's; the image's user (unknown here) is
        taken as root, so ``runAsNonRoot`` without a ``runAsUser`` is refused as the kubelet refuses it."""
        pod = self.spec.get("securityContext") or {}
        own = container.spec.get("securityContext") or {}
        uid = int(own.get("runAsUser", pod.get("runAsUser", 0)))
        if uid == 0 and own.get("runAsNonRoot", pod.get("runAsNonRoot")):
            name = f"{self.metadata.get('name', '')}_{self.metadata.get('namespace', '')}"
            raise ContainerConfigError(
                f'container has runAsNonRoot and image will run as root (pod: "{name}", container: {container.name})'
            )
        return uid, int(own.get("runAsGroup", pod.get("runAsGroup", uid)))

    def _start(self, container: Container, volumes: Mapping[str, pathlib.Path]) -> None:
        env = resolve_env(container.spec, self.metadata, self.read_data)
        uid, gid = self._user(container)
        layout = self._layout(container, volumes)
        container.started_at = now()
        try:
            argv = local_argv(container.spec, self.images, isolated=self.bwrap is not None)
        except NotRunnable as e:
            self._terminated(container, 128, "StartError", str(e))
            return
        full_env = isolation.container_env(env, layout, isolated=self.bwrap is not None)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(container.log_path, "wb") as log:  # the child keeps its own descriptor
            if self.bwrap is None:
                cwd = isolation.symlink_mounts(layout)
                proc = self._popen(argv, full_env, cwd, log, ())
            else:
                read_end, write_end = os.pipe()
                command = isolation.bwrap_argv(
                    self.bwrap,
                    argv,
                    layout,
                    uid=uid,
                    gid=gid,
                    hostname=str(self.metadata.get("name", "pod"))[:63],
                    info_fd=write_end,
                    workdir=str(container.spec.get("workingDir") or "/"),
                )
                try:
                    proc = self._popen(command, full_env, container.home, log, (write_end,))
                finally:
                    os.close(write_end)
                container.pid1 = _read_child_pid(read_end)
        with self._lock:
            container.proc = proc
        container.set_state(_state(running={"startedAt": container.started_at}), ready=True, started=True)
        self.on_process(proc)
        if self.cancelled.is_set():
            kill_group(proc)

    @staticmethod
    def _popen(
        argv: Sequence[str], env: Mapping[str, str], cwd: pathlib.Path, log: Any, fds: Sequence[int]
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(fds),
            start_new_session=True,  # its own process group: a kill reaches what it started
        )

    def _wait(self, containers: Sequence[Container], deadline: float | None) -> bool:
        """Wait for the containers to exit and record them; False when the deadline came first."""
        for container in containers:
            if container.proc is None:
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                container.proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                return False
            self._exited(container)
        return True

    def _exited(self, container: Container) -> None:
        assert container.proc is not None
        code = container.proc.returncode
        code = code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, as a runtime reports
        log = _tail(container.log_path, LOG_TAIL_BYTES) if container.log_path.exists() else b""
        message = termination_message(
            container.home.joinpath("termination-log").read_bytes(),
            log,
            policy=container.spec.get("terminationMessagePolicy"),
            exit_code=code,
            containers=len(self.mains),
        )
        self._terminated(container, code, "Completed" if code == 0 else "Error", message)

    def _terminated(self, container: Container, code: int, reason: str, message: str) -> None:
        terminated = {
            "exitCode": code,
            "reason": reason,
            "message": message,
            "startedAt": container.started_at or now(),
            "finishedAt": now(),
            "containerID": f"sandbox://{self.metadata.get('name', '')}/{container.name}",
        }
        container.set_state(_state(terminated=terminated))

    def _stop_sidecars(self) -> None:
        """SIGTERM the running sidecars, latest first; SIGKILL what is left after the grace period."""
        sidecars = [c for c in reversed(self.inits) if c.kind == "sidecar" and c.proc is not None]
        grace = float(self.spec.get("terminationGracePeriodSeconds", GRACE_SECONDS))
        for sidecar in sidecars:
            assert sidecar.proc is not None
            if sidecar.proc.poll() is None:
                terminate(sidecar.proc, sidecar.pid1)
        end = time.monotonic() + grace
        for sidecar in sidecars:
            assert sidecar.proc is not None
            try:
                sidecar.proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(sidecar.proc)
                sidecar.proc.wait()
            self._exited(sidecar)

    def _kill_all(self) -> None:
        """SIGKILL every running container and record how it ended."""
        self.cancel()
        for container in (*self.inits, *self.mains):
            if container.proc is not None and container.exit_code is None:
                container.proc.wait()
                self._exited(container)

    def _expire(self) -> PodResult:
        self._kill_all()
        return self._result(deadline_exceeded=True)

    def _stuck(self, container: Container, reason: str, message: str) -> PodResult:
        container.set_state(_state(waiting={"reason": reason, "message": message}))
        return PodResult(False, False, 0, reason, message, *self._statuses(), waiting=reason)

    def _statuses(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return [c.status for c in self.inits], [c.status for c in self.mains]

    def _result(self, *, deadline_exceeded: bool, failed_init: Container | None = None) -> PodResult:
        """The Pod's outcome from its regular containers (or the init container that failed)."""
        deciding = [failed_init] if failed_init is not None else self.mains
        failed = next((c for c in deciding if c.exit_code != 0), None)
        shown = failed or next((c for c in deciding if c.name == "main"), deciding[0])
        terminated = (shown.status.get("state") or {}).get("terminated") or {}
        return PodResult(
            succeeded=failed is None and not deadline_exceeded and not self.cancelled.is_set(),
            deadline_exceeded=deadline_exceeded,
            exit_code=int(terminated.get("exitCode", 1)),
            reason=str(terminated.get("reason", "Error")),
            message=str(terminated.get("message", "")),
            init_statuses=[c.status for c in self.inits],
            statuses=[c.status for c in self.mains],
        )


def write_files(root: pathlib.Path, files: Mapping[str, str]) -> None:
    """Write ``{relative path: content}`` under ``root``, refusing paths that would leave it."""
    base = root.resolve()
    for relative, content in files.items():
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise VolumeError(f"volume path escapes the pod's root: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def _tail(path: pathlib.Path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read()


def _read_child_pid(read_end: int) -> int | None:
    """bwrap's ``--info-fd`` JSON (``child-pid``: the sandbox's PID 1 as seen from here); None if it failed."""
    data = b""
    try:
        while chunk := os.read(read_end, 4096):
            data += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(data)["child-pid"])
    finally:
        os.close(read_end)
    return None


def terminate(proc: subprocess.Popen[bytes], pid1: int | None) -> None:
    """SIGTERM: to the sandbox's PID 1 when isolated (which, like a container's, ignores it unless it handles
    it), else to the process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pid1 is not None:
            os.kill(pid1, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its process group (it runs in its own session); gone already is fine. Isolated,
    bwrap's ``--die-with-parent`` takes the sandbox down with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
