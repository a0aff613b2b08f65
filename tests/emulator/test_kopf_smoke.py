"""kopf (as the operator runs it) against the emulated API server: startup, watch, patch, events."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import kubernetes
import pytest

from switchyard.sandbox.waiting import wait_for

pytestmark = pytest.mark.emulated

OPERATOR = pathlib.Path(__file__).parent / "kopf_smoke_operator.py"


def test_kopf_handles_two_objects_and_posts_two_events(module_kubeconfig, api_client, tmp_path):
    log = (tmp_path / "kopf.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(module_kubeconfig)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", "--verbose", str(OPERATOR)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        custom = kubernetes.client.CustomObjectsApi(api_client)
        core = kubernetes.client.CoreV1Api(api_client)
        for name in ("smoke1", "smoke2"):
            custom.create_namespaced_custom_object(
                "test.switchyard.dev",
                "v1",
                "default",
                "widgets",
                {"apiVersion": "test.switchyard.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {}},
            )

        def phases() -> dict[str, str | None]:
            return {
                name: (custom.get_namespaced_custom_object("test.switchyard.dev", "v1", "default", "widgets", name))
                .get("status", {})
                .get("phase")
                for name in ("smoke1", "smoke2")
            }

        wait_for(lambda: phases() == {"smoke1": "Handled", "smoke2": "Handled"}, timeout=30, what="kopf handling")

        def smoke_events() -> list[kubernetes.client.CoreV1Event]:
            events = core.list_namespaced_event("default", field_selector="reason=SmokeHandled").items
            return events if len(events) >= 2 else []

        events = wait_for(smoke_events, timeout=15, what="two kopf events")
        assert {event.involved_object.name for event in events} == {"smoke1", "smoke2"}
        assert len({event.metadata.name for event in events}) == len(events)  # generateName gave unique names
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    text = (tmp_path / "kopf.log").read_text()
    assert "Traceback" not in text, text[-5000:]
