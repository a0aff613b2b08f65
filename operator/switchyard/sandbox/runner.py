"""A local job runner for the sandbox: the JobSimulator's Pod/Job lifecycle, but the container really runs.

``LocalJobRunner`` creates each Job's Pod and writes Pod and Job statuses exactly as ``JobSimulator`` does; the
outcome comes from running the first container's command as a local subprocess (list argv, no shell) in a
temporary directory holding the Pod's volumes (``volumes.materialize``): mountPath ``/switchyard`` becomes
``<tmp>/switchyard``, ``/tmp`` becomes ``<tmp>/tmp``. ``SWITCHYARD_ROOT`` and ``SWITCHYARD_TERMINATION_LOG`` point
the processors there; a leading ``python``/``python3`` is this interpreter, so the installed processors run.

Exit 0 succeeds, anything else fails; what is left of ``activeDeadlineSeconds`` (counted from the Job's
start) is the timeout (``DeadlineExceeded``). The termination message is what the kubelet keeps
(``kubelet.termination_message``): the *last* 4096 bytes of the termination-log file or, with
``FallbackToLogsOnError``, a failure and an empty file, the last 80 lines / 2048 bytes of the output. Only
the switchyard image's commands that exist on this machine can run; any other Job fails with a message
saying so.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.kubelet import termination_message
from switchyard.sandbox.simbase import _Run
from switchyard.sandbox.volumes import VolumeError, field_ref

MAX_LOG_BYTES = 1 << 20  # output kept per Pod for ``kubectl logs``
SANDBOX_IMAGES = ("switchyard",)
_PYTHONS = ("python", "python3", f"python3.{sys.version_info.minor}")
_HOST_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH")


class NotRunnable(Exception):
    """The container cannot run on this machine (another image, or an executable that is not installed)."""


@dataclass(frozen=True)
class Execution:
    """What one local run produced."""

    exit_code: int | None  # None: killed at the deadline
    message: str
    output: bytes


def image_name(image: str) -> str:
    """The repository's last path segment, without tag or digest: ``ghcr.io/x/switchyard:0.1.0`` -> switchyard."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def local_argv(container: Mapping[str, Any], images: Sequence[str] = SANDBOX_IMAGES) -> list[str]:
    """The container's command + args with the executable resolved locally; ``NotRunnable`` if it cannot run."""
    image = str(container.get("image", ""))
    prefix = "sandbox runs only commands available locally:"
    if image_name(image) not in images:
        raise NotRunnable(f"{prefix} image {image!r} is not the switchyard image ({', '.join(images)})")
    argv = [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
    if not container.get("command"):
        raise NotRunnable(f"{prefix} the container has no command (the image's entrypoint is unknown here)")
    if argv[0] in _PYTHONS:
        return [sys.executable, *argv[1:]]
    executable = shutil.which(argv[0])
    if executable is None:
        raise NotRunnable(f"{prefix} executable {argv[0]!r} is not found on this machine")
    return [executable, *argv[1:]]


def write_files(root: pathlib.Path, files: Mapping[str, str]) -> None:
    """Write ``{relative path: content}`` under ``root``, refusing paths that would leave it."""
    base = root.resolve()
    for relative, content in files.items():
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise VolumeError(f"volume path escapes the pod's root: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def container_env(container: Mapping[str, Any], pod_metadata: Mapping[str, Any]) -> dict[str, str]:
    """``env`` of the container: plain values and downwardAPI ``fieldRef``s (other sources are skipped)."""
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var.get("value") or "")
        elif field := ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath"):
            env[var["name"]] = field_ref(pod_metadata, field)
    return env


def execute(
    argv: Sequence[str],
    *,
    root: pathlib.Path,
    env: Mapping[str, str],
    timeout: float | None,
    fallback_to_logs: bool,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> Execution:
    """Run ``argv`` in ``root`` (which holds ``switchyard/`` and ``tmp/``) and read its termination message.

    ``started`` gets the process (to kill it when its Job is deleted); a killed process ends as exit 137.
    """
    termination_log = root / "termination-log"
    termination_log.touch()
    full_env = {key: os.environ[key] for key in _HOST_ENV if key in os.environ}
    full_env.update({"HOME": str(root / "tmp"), "TMPDIR": str(root / "tmp")})
    full_env.update(env)
    full_env.update({"SWITCHYARD_ROOT": str(root / "switchyard"), "SWITCHYARD_TERMINATION_LOG": str(termination_log)})
    with subprocess.Popen(
        list(argv),
        cwd=root,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a kill reaches what it started
    ) as proc:
        if started is not None:
            started(proc)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            stdout, _ = proc.communicate()
            return Execution(None, "", stdout or b"")
    returncode = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode  # SIGKILL -> 137
    policy = "FallbackToLogsOnError" if fallback_to_logs else "File"
    message = termination_message(termination_log.read_bytes(), stdout, policy=policy, exit_code=returncode)
    return Execution(returncode, message, stdout)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its process group (it runs in its own session); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


class LocalJobRunner(JobSimulator):
    """See the module docstring. ``log_dir``, if given, keeps each Pod's output as ``<pod>.log``."""

    def __init__(
        self,
        kubeconfig: str | pathlib.Path,
        *,
        workers: int = 4,
        namespace: str | None = None,
        images: Sequence[str] = SANDBOX_IMAGES,
        log_dir: str | pathlib.Path | None = None,
    ) -> None:
        super().__init__(kubeconfig, namespace=namespace)
        self.workers = workers
        self.images = tuple(images)
        self.log_dir = pathlib.Path(log_dir) if log_dir is not None else None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # Job uid -> its running process
        self._procs_lock = threading.Lock()
        self.killed: list[str] = []  # Jobs whose process was killed because the Job was deleted
        self._logs: dict[tuple[str, str], bytes] = {}  # (namespace, pod) -> the container's output (its tail)

    def start(self) -> LocalJobRunner:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="local-job")
        super().start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._procs_lock:
            running = list(self._procs.values())
        for proc in running:  # a stopped node (the kubelet going away) does not leave its containers running
            kill_group(proc)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().stop()

    def __enter__(self) -> LocalJobRunner:
        return self.start()

    def _launch(self, run: _Run, deadline: float | None) -> None:
        assert self._pool is not None, "the runner is not started"
        self._pool.submit(self._run_and_finish, run, deadline)

    def log(self, namespace: str, pod: str) -> str | None:
        """A finished Pod's output (stdout + stderr, the last ``MAX_LOG_BYTES``), for ``kubectl logs``; None if
        this runner did not run it. Register it with ``cluster.api.log_sources.append(runner.log)``."""
        with self._procs_lock:
            output = self._logs.get((namespace, pod))
        return None if output is None else output.decode(errors="replace")

    def _cancel(self, run: _Run) -> None:
        """The Job was deleted (``kubectl delete``, a deadline, a stopped Workflow): kill its process now."""
        with self._procs_lock:
            proc = self._procs.get(run.uid)
        if proc is not None and proc.poll() is None:
            kill_group(proc)
            with self._lock:
                self.killed.append(run.job.name)

    def _kill(self, run: _Run) -> None:
        """The Job's deadline passed (the simulator's timer): kill its process, as the kubelet stops the Pod."""
        with self._procs_lock:
            proc = self._procs.get(run.uid)
        if proc is not None and proc.poll() is None:
            kill_group(proc)

    def _started(self, run: _Run, proc: subprocess.Popen[bytes]) -> None:
        with self._procs_lock:
            self._procs[run.uid] = proc
        if run.done:  # deleted while starting
            self._cancel(run)

    def _run_and_finish(self, run: _Run, deadline: float | None) -> None:
        try:
            deadline_exceeded = self._run_locally(run, deadline)
            self._finish(run, deadline_exceeded=deadline_exceeded)
        except Exception as e:  # keep running other Jobs; the sandbox reports runner.errors
            self._record_error(e)

    def _run_locally(self, run: _Run, deadline: float | None) -> bool:
        """Run the Pod's container; set ``run.outcome``. True when the deadline killed it."""
        template = run.job.body.get("spec", {}).get("template", {})
        container = (template.get("spec", {}).get("containers") or [{}])[0]
        try:
            argv = local_argv(container, self.images)
        except NotRunnable as e:
            run.outcome = Outcome(succeed=False, exit_code=127, reason="Error", message=str(e))
            return False
        pod_metadata = {**(template.get("metadata") or {}), "name": run.pod_name, "namespace": run.job.namespace}
        with tempfile.TemporaryDirectory(prefix=f"{run.pod_name}-") as tmp:
            root = pathlib.Path(tmp)
            for mount in container.get("volumeMounts") or []:
                (root / mount["mountPath"].strip("/")).mkdir(parents=True, exist_ok=True)
            write_files(root, run.job.files)
            execution = execute(
                argv,
                root=root,
                env=container_env(container, pod_metadata),
                timeout=deadline,
                fallback_to_logs=container.get("terminationMessagePolicy") == "FallbackToLogsOnError",
                started=lambda proc: self._started(run, proc),
            )
            with self._procs_lock:
                self._procs.pop(run.uid, None)
        with self._procs_lock:
            self._logs[(run.job.namespace, run.pod_name)] = execution.output[-MAX_LOG_BYTES:]
        if self.log_dir is not None:
            (self.log_dir / f"{run.pod_name}.log").write_bytes(execution.output)
        if execution.exit_code is None:
            return True
        run.outcome = Outcome(
            succeed=execution.exit_code == 0,
            exit_code=execution.exit_code,
            reason="Completed" if execution.exit_code == 0 else "Error",
            message=execution.message,
        )
        return False
