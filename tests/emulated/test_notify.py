"""Outbound events: a finished Workflow's CloudEvent reaches a real local HTTP sink that fails, then recovers;
delivered at least once with one id per run, across a SIGKILL, never holding the Workflow up."""

from __future__ import annotations

import json
import pathlib
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchyard.sandbox.jobsim import JobSimulator, Outcome
from switchyard.sandbox.process import OperatorProcess
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int


@dataclass
class Sink:
    """A real HTTP server on loopback: answers `answer()` (e.g. 503 until told to recover), records each POST."""

    answer: Callable[[], int] = lambda: 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def uri(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Sink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code = sink.answer()
                with sink.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    sink.received.append(Received(headers, body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def of(self, workflow: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.body.get("subject") == workflow]


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


def notified(kube: Kube, name: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    return wait_for(
        lambda: (n := kube.status("Workflow", name).get("notification") or {}).get("state") == state and n,
        timeout,
        what=f"workflow {name} notification {state}",
    )


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def workflow(kube: Kube, name: str, uri: str, retry_seconds: int = 120, fail: bool = False) -> None:
    nodes = [
        {"name": "a", "component": "proc"},
        {"name": "b", "component": "flaky" if fail else "proc", "dependsOn": ["a"]},
    ]
    notify = {"sink": {"uri": uri}, "retrySeconds": retry_seconds}
    kube.create("Workflow", name, {"input": {"data": "x"}, "nodes": nodes, "notify": notify})


def test_a_failing_sink_gets_the_event_once_it_recovers_and_the_workflow_is_not_held_up(
    running_operator: OperatorProcess, kube: Kube, sim: JobSimulator, sink: Sink
) -> None:
    kube.component("proc")
    kube.component("flaky", retry={"limit": 0})
    sim.rule = lambda job: Outcome(succeed=job.component != "flaky", message='{"n": 1}')
    recovered = threading.Event()
    sink.answer = lambda: 200 if recovered.is_set() else 503
    failures_before = metric(running_operator, "switchyard_notify_failures_total", namespace=kube.namespace)
    workflow(kube, "ok", sink.uri)
    workflow(kube, "broken", sink.uri, fail=True)
    assert kube.wait_phase("ok", "Succeeded")["phase"] == "Succeeded"  # finished while its sink is down
    kube.wait_phase("broken", "Failed")
    wait_for(lambda: len(sink.of("ok")) >= 2 and len(sink.of("broken")) >= 2, 20, what="retried posts")
    event = kube.wait_event("ok", "NotifyFailed")
    assert event.type == "Warning" and "503" in event.message
    pending = kube.status("Workflow", "ok")["notification"]
    assert pending["state"] == "Pending" and "503" in pending["lastError"]
    recovered.set()
    for name in ("ok", "broken"):
        record = notified(kube, name, "Delivered")
        posts = sink.of(name)
        assert [p.answered for p in posts].count(200) == 1, "delivered once"
        assert {p.body["id"] for p in posts} == {record["id"]}, "one id for every attempt of a run"
        assert record["attempts"] == len(posts) and record["deliveredAt"]
        assert posts[-1].headers["content-type"].startswith("application/cloudevents+json")
        assert kube.wait_event(name, "Notified").type == "Normal"
    ok = sink.of("ok")[-1].body
    uid = kube.get("Workflow", "ok")["metadata"]["uid"]
    assert (ok["type"], ok["id"], ok["specversion"]) == ("dev.switchyard.workflow.finished", uid, "1.0")
    assert ok["source"] == f"/apis/switchyard.dev/v1alpha1/namespaces/{kube.namespace}/workflows/ok"
    data = ok["data"]
    assert (data["name"], data["phase"], data["failedNodes"]) == ("ok", "Succeeded", [])
    assert data["message"] == "all 2 nodes succeeded" and data["outputs"]["b"]["output"] == '{"n": 1}'
    broken = sink.of("broken")[-1].body["data"]
    assert broken["phase"] == "Failed" and [n["name"] for n in broken["failedNodes"]] == ["b"]
    assert set(broken["outputs"]) == {"a"}
    failures = metric(running_operator, "switchyard_notify_failures_total", namespace=kube.namespace)
    assert failures - failures_before >= 4


def test_a_final_answer_or_the_retry_bound_abandons_it_with_a_warning(
    running_operator: OperatorProcess, kube: Kube, sim: JobSimulator, sink: Sink
) -> None:
    kube.component("proc")
    sink.answer = lambda: 400
    workflow(kube, "refused", sink.uri)
    record = notified(kube, "refused", "Abandoned")
    assert record["attempts"] == 1 and "400" in record["lastError"]
    event = kube.wait_event("refused", "NotifyAbandoned")
    assert event.type == "Warning" and "not retried" in event.message
    # a sink that never answers 2xx: retried with backoff for retrySeconds, then given up
    workflow(kube, "unreachable", "http://127.0.0.1:9/nothing-listens", retry_seconds=3)
    record = notified(kube, "unreachable", "Abandoned", timeout=30)
    assert record["attempts"] >= 2 and "could not reach the sink" in record["lastError"]
    assert "not delivered within 3 s" in kube.wait_event("unreachable", "NotifyAbandoned").message
    assert metric(running_operator, "switchyard_notifications_total", namespace=kube.namespace, result="abandoned") == 2


@pytest.fixture
def own_namespace(kubeconfig: pathlib.Path) -> str:
    return new_namespace(kubeconfig, "nfy")  # outside the session operator's `t-*`


def test_an_event_pending_at_a_sigkill_is_delivered_by_the_restarted_operator_once(
    kubeconfig: pathlib.Path, own_namespace: str, tmp_path: pathlib.Path, sink: Sink
) -> None:
    kube = Kube(kubeconfig, own_namespace)
    kube.component("proc")
    recovered = threading.Event()
    sink.answer = lambda: 200 if recovered.is_set() else 500
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", namespaces=(own_namespace,)).start()
    try:
        proc.wait_ready()
        with JobSimulator(kubeconfig, namespace=own_namespace, delay=0.05) as sim:
            workflow(kube, "durable", sink.uri)
            kube.wait_phase("durable", "Succeeded")
            wait_for(lambda: sink.of("durable"), 20, what="a first (failed) post")
            # the failed attempt is recorded after the post returns: kill once the status says so (a kill in
            # between is the at-least-once case: the restarted operator sends again, under the same id)
            wait_for(
                lambda: (kube.status("Workflow", "durable").get("notification") or {}).get("attempts", 0) >= 1,
                20,
                what="the failed attempt recorded",
            )
            proc.kill()  # SIGKILL: the task retrying the post dies with it; status says Pending
            assert kube.status("Workflow", "durable")["notification"]["state"] == "Pending"
            recovered.set()
            proc.start()
            proc.wait_ready()
            record = notified(kube, "durable", "Delivered")
            # a Workflow finishing after the restart is delivered too; by then a second send of the first would
            # have come (it restarts first), and none does
            workflow(kube, "sentinel", sink.uri)
            notified(kube, "sentinel", "Delivered")
            proc.kill()
            proc.start()
            proc.wait_ready()
            workflow(kube, "sentinel-2", sink.uri)
            notified(kube, "sentinel-2", "Delivered")
            assert sim.errors == []
        posts = sink.of("durable")
        assert [p.answered for p in posts].count(200) == 1
        assert {p.body["id"] for p in posts} == {record["id"]}
        assert [p.answered for p in sink.of("sentinel")] == [200]
    finally:
        proc.stop()
