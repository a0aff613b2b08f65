"""A local job runner for the sandbox: the JobSimulator's Pod/Job lifecycle, but the Pod's containers really run.

``LocalJobRunner`` is a ``JobSimulator`` (each Job's Pod created and the Job status written exactly as it does)
whose executor, ``LocalExecutor``, runs the Pod with ``podexec.PodExecution`` (init containers, native sidecars,
main containers, in the kubelet's order, in a temporary directory holding the Pod's volumes), isolated by
bubblewrap where it is installed (``isolation.py``). The Pod status carries every container's status as the
kubelet writes it; the Job succeeds when the Pod's regular containers all exit 0. What is left of
``activeDeadlineSeconds`` (counted from the Job's start) is the timeout (``DeadlineExceeded``). Termination
messages are what the kubelet keeps (``kubelet.termination_message``): the *last* 4096 bytes of the
termination-log file or, with ``FallbackToLogsOnError``, a failure and an empty file, the last 80 lines / 2048
bytes of the output. Images are not pulled: a container's command runs with this machine's programs, and without
bubblewrap only the switchyard image's commands run (any other Job fails with a message saying how to get
bubblewrap).

Each container's output (stdout + stderr) is kept as ``<log_dir>/<namespace>/<pod>/<container>.log`` (a
temporary directory when no ``log_dir`` is given) and served to ``kubectl logs`` through ``log``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import pathlib
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.sandbox import isolation
from switchyard.sandbox.executor import Host
from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.podexec import (
    SANDBOX_IMAGES,
    NotRunnable,
    PodExecution,
    PodResult,
    ReadData,
    image_name,
    kill_group,
    local_argv,
)
from switchyard.sandbox.simbase import Run, _now

__all__ = ["SANDBOX_IMAGES", "LocalExecutor", "LocalJobRunner", "NotRunnable", "image_name", "kill_group", "local_argv"]

MAX_LOG_BYTES = 1 << 20  # the tail of a container's output ``kubectl logs`` gets
AUTO = "auto"


@dataclass(frozen=True)
class ContainerOutput:
    """One container's output file as ``podlogs.ContainerLog``: read while it grows, finished when it exits."""

    execution: PodExecution
    name: str

    def read(self, offset: int, size: int = MAX_LOG_BYTES) -> bytes:
        path = self.execution.log_dir / f"{self.name}.log"
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
        except FileNotFoundError:
            return b""

    def waiting(self) -> str | None:
        return self.execution.waiting(self.name)

    def finished(self) -> bool:
        return self.execution.finished(self.name)


class LocalExecutor:
    """Runs each started Pod's containers on this machine (``executor.PodExecutor``). ``bwrap``: the bubblewrap
    executable, ``"auto"`` (found on PATH) or None (run unisolated: the switchyard image's commands only)."""

    def __init__(
        self,
        *,
        workers: int = 4,
        images: Sequence[str] = SANDBOX_IMAGES,
        log_dir: str | pathlib.Path | None = None,
        bwrap: str | None = AUTO,
    ) -> None:
        self.workers = workers
        self.images = tuple(images)
        self.bwrap = isolation.find_bwrap() if bwrap == AUTO else bwrap
        self._own_logs: tempfile.TemporaryDirectory[str] | None = None
        if log_dir is None:
            self._own_logs = tempfile.TemporaryDirectory(prefix="switchyard-logs-")
            log_dir = self._own_logs.name
        self.log_dir = pathlib.Path(log_dir)
        self._host: Host | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._executions: dict[str, PodExecution] = {}  # Job uid -> its running Pod
        self._pods: dict[tuple[str, str], PodExecution] = {}  # (namespace, pod) -> its run, finished ones too
        self._procs_lock = threading.Lock()
        self.killed: list[str] = []  # Jobs whose processes were killed because the Job was deleted

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None

    @property
    def host(self) -> Host:
        assert self._host is not None, "the runner is not started"
        return self._host

    def start(self, host: Host) -> None:
        self._host = host
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="local-job")

    def stop(self) -> None:
        with self._procs_lock:
            running = list(self._executions.values())
        for execution in running:  # a stopped node (the kubelet going away) does not leave its containers running
            execution.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def processes(self, job_uid: str) -> list[subprocess.Popen[bytes]]:
        """The processes started so far for a running Job's Pod (empty once it has finished)."""
        with self._procs_lock:
            execution = self._executions.get(job_uid)
        return execution.processes() if execution is not None else []

    def pod_log(self, namespace: str, pod: str, container: str) -> ContainerOutput | None:
        """The log source for the emulated API server (``cluster.api.log_sources.append(runner.pod_log)``):
        ``kubectl logs [-f]`` reads (and follows) the container's output; None for a Pod this runner did not run."""
        with self._procs_lock:
            execution = self._pods.get((namespace, pod))
        if execution is None or execution.container(container) is None:
            return None
        return ContainerOutput(execution, container)

    def log(self, namespace: str, pod: str, container: str | None = None) -> str | None:
        """A Pod's container output (stdout + stderr, the last ``MAX_LOG_BYTES``), for ``kubectl logs``; None if
        this runner did not run it."""
        with self._procs_lock:
            execution = self._pods.get((namespace, pod))
        if execution is None:
            return None
        path = execution.log_dir / f"{container or execution.mains[0].name}.log"
        if not path.exists():
            return ""
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - MAX_LOG_BYTES))
            return f.read().decode(errors="replace")

    def launch(self, run: Run, deadline: float | None) -> None:
        assert self._pool is not None, "the runner is not started"
        self._pool.submit(self._run_and_finish, run, deadline)

    def cancel(self, run: Run) -> None:
        """The Job was deleted (``kubectl delete``, a deadline, a stopped Workflow): kill its Pod's processes now."""
        with self._procs_lock:
            execution = self._executions.get(run.uid)
            if execution is not None and any(p.poll() is None for p in execution.processes()):
                self.killed.append(run.job.name)
        if execution is not None:
            execution.cancel()

    def kill(self, run: Run) -> None:
        """The Job's deadline passed (the simulator's timer, from the Job's start): stop its Pod's containers, as
        the kubelet does; the Job is failed by the simulator, whatever the execution reports after."""
        with self._procs_lock:
            execution = self._executions.get(run.uid)
        if execution is not None:
            execution.cancel()

    def running_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        """Pending until the execution reports its containers (init containers first)."""
        spec = run.job.body.get("spec", {}).get("template", {}).get("spec", {})
        waiting = {"waiting": {"reason": "PodInitializing" if spec.get("initContainers") else "ContainerCreating"}}

        def statuses(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
            fields = {"imageID": "", "ready": False, "restartCount": 0, "started": False, "state": waiting}
            return [{"name": c.get("name", "main"), "image": c.get("image", ""), **fields} for c in containers]

        pending: dict[str, Any] = {
            "phase": "Pending",
            "startTime": status.get("startTime"),
            "containerStatuses": statuses(spec.get("containers") or [{}]),
        }
        if spec.get("initContainers"):
            pending["initContainerStatuses"] = statuses(spec["initContainers"])
        return pending

    def sidecars_keep_running(self, run: Run) -> bool:
        """Never here: every container really ran, and the execution has ended them all (a real sidecar too)."""
        return False

    def final_status(self, run: Run, status: dict[str, Any]) -> dict[str, Any]:
        result: PodResult | None = run.extra.get("result")
        if result is None:
            return status
        status = {**status, "containerStatuses": result.statuses}
        if result.init_statuses:
            status["initContainerStatuses"] = result.init_statuses
        return status

    def _read_data(self, namespace: str) -> ReadData:
        """Secrets and ConfigMaps for env ``valueFrom`` and volumes, read from the cluster (None: missing)."""
        core = self.host.core

        def read(kind: str, name: str) -> Mapping[str, str] | None:
            try:
                if kind == "secret":
                    secret = core.read_namespaced_secret(name, namespace)
                    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}
                    return {**data, **(secret.string_data or {})}
                configmap = core.read_namespaced_config_map(name, namespace)
                return dict(configmap.data or {})
            except ApiException as e:
                if e.status == 404:
                    return None
                raise

        return read

    def _on_status(self, run: Run, status: dict[str, Any]) -> None:
        if status.get("phase") == "Running":
            status = {**status, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": _now()}]}
        if not run.done:
            self.host.patch_pod_status(run, status)

    def _run_and_finish(self, run: Run, deadline: float | None) -> None:
        try:
            deadline_exceeded = self._run_locally(run, deadline)
            if deadline_exceeded is not None:
                self.host.finish(run, deadline_exceeded=deadline_exceeded)
        except Exception as e:  # keep running other Jobs; the sandbox reports runner.errors
            self.host.record_error(e)

    def _run_locally(self, run: Run, deadline: float | None) -> bool | None:
        """Run the Pod; set ``run.outcome``. True when the deadline killed it, None when it stays Pending."""
        template = run.job.body.get("spec", {}).get("template", {})
        namespace = run.job.namespace
        pod_metadata = {**(template.get("metadata") or {}), "name": run.pod_name, "namespace": namespace}
        with tempfile.TemporaryDirectory(prefix=f"{run.pod_name}-") as tmp:
            execution = PodExecution(
                template.get("spec") or {},
                pod_metadata,
                pod_dir=pathlib.Path(tmp),
                log_dir=self.log_dir / namespace / run.pod_name,
                read_data=self._read_data(namespace),
                bwrap=self.bwrap,
                images=self.images,
                on_status=lambda status: self._on_status(run, status),
            )
            with self._procs_lock:
                self._executions[run.uid] = execution
                self._pods[(namespace, run.pod_name)] = execution
            if run.done:  # deleted while starting
                execution.cancel()
            try:
                result = execution.run(deadline)
            finally:
                with self._procs_lock:
                    self._executions.pop(run.uid, None)
        run.extra["result"] = result
        if result.waiting is not None:  # as a kubelet would: the Pod stays Pending, the Job active
            self._on_status(run, execution.pod_status("Pending"))
            return None
        if result.deadline_exceeded:
            return True
        run.outcome = Outcome(
            succeed=result.succeeded, exit_code=result.exit_code, reason=result.reason, message=result.message
        )
        return False


class LocalJobRunner(JobSimulator):
    """A ``JobSimulator`` whose executor is a ``LocalExecutor`` (see the module docstring); ``bwrap`` as there.
    ``executor``: a ``LocalExecutor`` of one's own (then ``images``, ``log_dir`` and ``bwrap`` are its)."""

    def __init__(
        self,
        kubeconfig: str | pathlib.Path,
        *,
        workers: int = 4,
        namespace: str | None = None,
        images: Sequence[str] = SANDBOX_IMAGES,
        log_dir: str | pathlib.Path | None = None,
        bwrap: str | None = AUTO,
        executor: LocalExecutor | None = None,
    ) -> None:
        self.local = executor or LocalExecutor(workers=workers, images=images, log_dir=log_dir, bwrap=bwrap)
        super().__init__(kubeconfig, namespace=namespace, workers=workers, executor=self.local)

    @property
    def isolated(self) -> bool:
        return self.local.isolated

    @property
    def bwrap(self) -> str | None:
        return self.local.bwrap

    @property
    def killed(self) -> list[str]:
        """Jobs whose processes were killed because the Job was deleted."""
        return self.local.killed

    def processes(self, job_uid: str) -> list[subprocess.Popen[bytes]]:
        return self.local.processes(job_uid)

    def pod_log(self, namespace: str, pod: str, container: str) -> ContainerOutput | None:
        return self.local.pod_log(namespace, pod, container)

    def log(self, namespace: str, pod: str, container: str | None = None) -> str | None:
        return self.local.log(namespace, pod, container)
