"""`switchyard dev` owns its directory (a second one refuses, a stale lock is replaced) and listens on
loopback only."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest
import yaml

from switchyard.sandbox import devlock
from tests.emulated.conftest import wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]
SWITCHYARD = shutil.which("switchyard", path=os.path.dirname(sys.executable)) or shutil.which("switchyard")


def outward_address() -> str | None:
    """An address of this machine other than loopback (a UDP connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def test_a_stale_lock_is_replaced_and_a_live_one_refuses(tmp_path: pathlib.Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its PID is free now
    (tmp_path / devlock.LOCK_NAME).write_text(f'{{"pid": {gone.pid}, "kubeconfig": "/old/kubeconfig"}}')
    with devlock.acquire(tmp_path, tmp_path / "kubeconfig") as stale:
        assert stale == devlock.Holder(gone.pid, "/old/kubeconfig")
        assert devlock.read(tmp_path / devlock.LOCK_NAME) == devlock.Holder(os.getpid(), str(tmp_path / "kubeconfig"))
    assert not (tmp_path / devlock.LOCK_NAME).exists()  # released at the end

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (tmp_path / devlock.LOCK_NAME).write_text(f'{{"pid": {holder.pid}, "kubeconfig": "/first/kubeconfig"}}')
        with pytest.raises(devlock.Locked) as refused, devlock.acquire(tmp_path, tmp_path / "kubeconfig"):
            pass
        assert f"PID {holder.pid}" in str(refused.value) and "kubeconfig /first/kubeconfig" in str(refused.value)
        assert devlock.read(tmp_path / devlock.LOCK_NAME) == devlock.Holder(holder.pid, "/first/kubeconfig")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(SWITCHYARD is None, reason="the switchyard console script is not installed")
def test_a_second_dev_refuses_and_every_port_is_loopback(tmp_path: pathlib.Path) -> None:
    assert SWITCHYARD is not None
    directory = tmp_path / "sandbox"
    first = subprocess.Popen(
        [SWITCHYARD, "dev", "--dir", str(directory), "--no-examples"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(first.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Metrics:" in line for line in lines), timeout=90, what="the first sandbox to be up")
        kubeconfig = directory / "kubeconfig"
        before = kubeconfig.read_text()

        second = subprocess.run(
            [SWITCHYARD, "dev", "--dir", str(directory), "--no-examples"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"PID {first.pid}" in second.stderr and f"kubeconfig {kubeconfig}" in second.stderr, second.stderr
        assert kubeconfig.read_text() == before  # the first one's files are untouched
        assert first.poll() is None

        output = "".join(lines)
        server = yaml.safe_load(before)["clusters"][0]["cluster"]["server"]
        ports = {
            "api": int(server.rsplit(":", 1)[1]),
            "metrics": int(re.search(r"Metrics: http://127\.0\.0\.1:(\d+)/metrics", output).group(1)),  # type: ignore[union-attr]
            "ingest": int(re.search(r"curl -i http://127\.0\.0\.1:(\d+)/", output).group(1)),  # type: ignore[union-attr]
        }
        outward = outward_address()
        for name, port in ports.items():
            assert reachable("127.0.0.1", port), name
            if outward is not None:
                assert not reachable(outward, port), f"{name} port {port} answers on {outward}"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert not (directory / devlock.LOCK_NAME).exists()
