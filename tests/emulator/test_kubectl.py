"""The real kubectl against the emulated API server: apply, get with printer columns, wait, events."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.waiting import wait_for

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = [
    pytest.mark.emulated,
    pytest.mark.kubectl,
    pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed"),
]

WIDGET = """\
apiVersion: test.switchyard.dev/v1
kind: Widget
metadata:
  name: {name}
spec:
  size: {size}
  ports:
    - port: 8080
"""


def kubectl(kubeconfig: pathlib.Path, *args: str, stdin: str | None = None, timeout: float = 30) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_apply_creates_then_patches_a_custom_resource(cluster: EmulatedCluster, module_kubeconfig):
    out = kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=WIDGET.format(name="k1", size=1))
    assert "widget.test.switchyard.dev/k1 created" in out
    out = kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=WIDGET.format(name="k1", size=2))
    assert "configured" in out
    stored = cluster.get("widgets", "k1")
    assert stored is not None and stored["spec"]["size"] == 2 and stored["metadata"]["generation"] == 2


def test_apply_builtin_uses_strategic_merge(cluster: EmulatedCluster, module_kubeconfig):
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kc1\ndata:\n  a: '{value}'\n"
    kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=manifest.format(value=1))
    kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=manifest.format(value=2))
    stored = cluster.get("configmaps", "kc1")
    assert stored is not None and stored["data"] == {"a": "2"}


def test_get_shows_printer_columns(module_kubeconfig):
    kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=WIDGET.format(name="k2", size=42))
    out = kubectl(module_kubeconfig, "get", "widgets")
    header, *rows = out.strip().splitlines()
    assert header.split() == ["NAME", "SIZE", "PHASE", "FIRST-PORT", "AGE"]
    row = next(line.split() for line in rows if line.startswith("k2 "))
    assert row[1] == "42" and row[2] == "8080"  # PHASE is empty
    assert row[-1].endswith(("s", "m"))
    out = kubectl(module_kubeconfig, "get", "wdg", "k2", "-o", "jsonpath={.spec.size}")
    assert out == "42"


def test_wait_for_condition(cluster: EmulatedCluster, module_kubeconfig, raw):
    kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=WIDGET.format(name="k3", size=1))

    def complete_later() -> None:
        status = {"status": {"conditions": [{"type": "Complete", "status": "True", "reason": "Done"}]}}
        raw(
            "PATCH",
            "/apis/test.switchyard.dev/v1/namespaces/default/widgets/k3/status",
            status,
            "application/merge-patch+json",
        )

    timer = threading.Timer(0.5, complete_later)
    timer.start()
    try:
        out = kubectl(module_kubeconfig, "wait", "--for=condition=Complete", "widget/k3", "--timeout=20s")
    finally:
        timer.join()
    assert "condition met" in out


def test_get_events(module_kubeconfig, raw):
    body = {
        "metadata": {"generateName": "kubectl-"},
        "type": "Normal",
        "reason": "Tested",
        "message": "hello from the test",
        "involvedObject": {"kind": "Widget", "name": "k4", "namespace": "default"},
    }
    raw("POST", "/api/v1/namespaces/default/events", body)
    out = kubectl(module_kubeconfig, "get", "events")
    assert "Tested" in out and "hello from the test" in out
    wait_for(lambda: "Tested" in kubectl(module_kubeconfig, "get", "events", "-A"), timeout=5)


def test_delete_and_api_resources(module_kubeconfig):
    kubectl(module_kubeconfig, "apply", "--validate=false", "-f", "-", stdin=WIDGET.format(name="k5", size=1))
    assert "deleted" in kubectl(module_kubeconfig, "delete", "widget", "k5")
    out = kubectl(module_kubeconfig, "api-resources", "--api-group=test.switchyard.dev")
    assert "widgets" in out and "wdg" in out
