"""Run the real operator (`python -m switchyard`) as a child process: start, SIGKILL, restart, logs.

Used by the emulated tests, the benchmarks and the sandbox; nothing in it patches the operator.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: str | pathlib.Path,
        log_path: str | pathlib.Path,
        *,
        namespaces: tuple[str, ...] = (),
        metrics_port: int | None = None,
        verbose: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.log_path = pathlib.Path(log_path)
        self.namespaces = namespaces
        self.metrics_port = metrics_port if metrics_port is not None else free_port()
        self.verbose = verbose
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "switchyard", "--kubeconfig", self.kubeconfig, "--health-port", "0"]
        # Local processes listen on loopback only (the liveness endpoint is off: --health-port 0).
        cmd += ["--metrics-port", str(self.metrics_port), "--metrics-host", "127.0.0.1"]
        for ns in self.namespaces:
            cmd += ["--namespace", ns]
        if self.verbose:
            cmd.append("--verbose")
        return cmd + list(self.extra_args)

    def start(self) -> OperatorProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== operator start #{self.starts} =====\n".encode())
        log.flush()
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown (a crash or an OOM kill)."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the metrics endpoint answers (the startup handler has run)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"operator exited:\n{self.log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"operator not ready after {timeout}s:\n{self.log()[-3000:]}")


class EmulatorProcess:
    """The emulated API server in its own process (``python -m switchyard.sandbox.apiserver``).

    For benchmarks: the emulator, the job simulator and the load then do not share one interpreter lock.
    ``with EmulatorProcess(crds, namespaces=[...]) as emulator:`` -> ``emulator.url``, ``write_kubeconfig``.
    """

    def __init__(self, crd_paths: Sequence[str | pathlib.Path] = (), *, namespaces: Sequence[str] = ()) -> None:
        self.crd_paths = [str(path) for path in crd_paths]
        self.namespaces = list(namespaces)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> EmulatorProcess:
        cmd = [sys.executable, "-m", "switchyard.sandbox.apiserver"]
        for path in self.crd_paths:
            cmd += ["--crd", path]
        for namespace in self.namespaces:
            cmd += ["--namespace", namespace]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError("the emulator process did not start")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def write_kubeconfig(self, path: str | pathlib.Path, namespace: str = "default") -> pathlib.Path:
        from switchyard.sandbox.apiserver import write_kubeconfig

        return write_kubeconfig(path, self.url, namespace)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SimulatorProcess:
    """The job simulator in its own process (``python -m switchyard.sandbox.jobsim``), for benchmarks.

    ``start()`` returns once it watches Jobs; after ``stop()``, ``started``/``finished``/``errors`` hold what
    it recorded (``jobsim.Started``/``Finished``; errors as their repr).
    """

    def __init__(
        self,
        kubeconfig: str | pathlib.Path,
        workdir: str | pathlib.Path,
        *,
        namespace: str | None = None,
        delays: dict[str, float] | None = None,
        message: str | None = None,
        user_agent: str | None = None,
        workers: int = 4,
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.workdir = pathlib.Path(workdir)
        self.namespace = namespace
        self.delays = dict(delays or {})
        self.message = message
        self.user_agent = user_agent
        self.workers = workers
        self.proc: subprocess.Popen[str] | None = None
        self.started: list[Any] = []
        self.finished: list[Any] = []
        self.errors: list[str] = []

    def start(self) -> SimulatorProcess:
        import json

        self.workdir.mkdir(parents=True, exist_ok=True)
        delays = self.workdir / "jobsim-delays.json"
        delays.write_text(json.dumps(self.delays))
        self.record = self.workdir / "jobsim-record.json"
        self.record.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "switchyard.sandbox.jobsim", "--kubeconfig", self.kubeconfig]
        cmd += ["--delays", str(delays), "--record", str(self.record), "--workers", str(self.workers)]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        if self.message is not None:
            cmd += ["--message", self.message]
        if self.user_agent:
            cmd += ["--user-agent", self.user_agent]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the simulator process did not start")
        return self

    def stop(self) -> None:
        import json

        from switchyard.sandbox.jobsim import Finished, Started

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.record.exists():
            data = json.loads(self.record.read_text())
            self.started = [Started(*row) for row in data["started"]]
            self.finished = [Finished(*row) for row in data["finished"]]
            self.errors = list(data["errors"])
