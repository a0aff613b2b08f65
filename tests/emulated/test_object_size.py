"""What a real API server and etcd refuse, met by the real operator: Event messages over 1024 bytes,
objects near etcd's 1.5 MiB limit with their managedFields, client-side `kubectl apply` of a large spec."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulated.conftest import Kube, wait_for

pytestmark = [pytest.mark.emulated, pytest.mark.usefixtures("running_operator")]


def test_a_multibyte_message_over_1024_bytes_still_reaches_its_event(kube: Kube) -> None:
    when = '"' + "é" * 600 + '" >>> 3'  # does not compile; the error quotes it: > 1,024 bytes, < 1,024 characters
    kube.create("RoutingRule", "wide", {"priority": 5, "when": when, "path": ["x"]})
    status: Any = wait_for(
        lambda: (s := kube.status("RoutingRule", "wide")).get("valid") is False and s, 20, what="invalid"
    )
    assert len(status["message"].encode()) > 1024
    event = kube.wait_event("wide", "InvalidExpression", timeout=30)
    assert len(event.message.encode()) <= 1024 and event.message.endswith("...")
    assert status["message"].startswith(event.message[:-3])
