"""Triggers end to end: CloudEvents posted to the operator's ingest endpoint start Workflows (single events,
batches by count and by time), authentication, malformed events, a 1,000-event burst and SIGKILL with a
pending batch. The real operator runs with `--ingest-port`; the client is aiohttp on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import kubernetes
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from switchyard.logic import triggers as logic
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess, free_port
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

ADMIN = "emulated"  # the sandbox kubeconfig's token: an admin in the emulator's auth table
TEMPLATE = {"nodes": [{"name": "run", "component": "proc"}]}


class Ingest:
    """A small client of the ingest endpoint: (status, headers, JSON body)."""

    def __init__(self, port: int, namespace: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.namespace = namespace

    def post(
        self, path: str, body: bytes, headers: dict[str, str], token: str | None = ADMIN
    ) -> tuple[int, dict[str, str], Any]:
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(self.base + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")

    def send(self, trigger: str, event: CloudEvent, binary: bool = False, token: str | None = ADMIN) -> tuple[int, Any]:
        message = to_binary_event(event) if binary else to_structured_event(event)
        status, _, body = self.post(self.path(trigger), message.body, dict(message.headers), token)
        return status, body

    def path(self, trigger: str) -> str:
        return f"/v1/namespaces/{self.namespace}/triggers/{trigger}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


def event(event_id: str, data: Any = None, type_: str = "com.example.order", source: str = "/shop") -> CloudEvent:
    attributes = {"id": event_id, "source": source, "type": type_}
    if data is not None:
        attributes["datacontenttype"] = "application/json" if isinstance(data, (dict, list)) else "text/plain"
    return CloudEvent(attributes=attributes, data=data)


def trigger(kube: Kube, name: str, **spec: Any) -> None:
    kube.create("Trigger", name, {"workflowTemplate": TEMPLATE, **spec})
    wait_for(lambda: _ready(kube, name), 90, what=f"trigger {name} Ready")


def _ready(kube: Kube, name: str) -> bool:
    conditions = kube.status("Trigger", name).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def workflows(kube: Kube, trigger_name: str) -> list[dict[str, Any]]:
    listing = kube.custom.list_namespaced_custom_object(
        "switchyard.dev",
        "v1alpha1",
        kube.namespace,
        "workflows",
        label_selector=f"switchyard.dev/trigger={trigger_name}",
    )
    return list(listing["items"])


def batch_items(workflow: dict[str, Any]) -> list[Any]:
    assert workflow["spec"]["input"]["contentType"] == "application/json"
    return list(json.loads(workflow["spec"]["input"]["data"]))


def pending_batches(kube: Kube, trigger_name: str) -> list[Any]:
    selector = f"switchyard.dev/trigger={trigger_name},switchyard.dev/batch=pending"
    return list(kube.core.list_namespaced_config_map(kube.namespace, label_selector=selector).items)


def start_operator(
    kubeconfig: pathlib.Path, log: pathlib.Path, namespaces: tuple[str, ...], port: int
) -> OperatorProcess:
    extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1")
    proc = OperatorProcess(kubeconfig, log, namespaces=namespaces, extra_args=extra).start()
    proc.wait_ready(timeout=60)
    client = Ingest(port, "")
    wait_for(client.ready, 30, what="ingest endpoint up")
    return proc


@pytest.fixture(scope="module")
def ingest_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def ingest_operator(
    kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory, ingest_port: int
) -> Iterator[OperatorProcess]:
    """An operator with the ingest endpoint, watching the namespaces `g-*` (no other operator acts there)."""
    proc = start_operator(kubeconfig, tmp_path_factory.mktemp("ingest") / "operator.log", ("g-*",), ingest_port)
    yield proc
    proc.stop()


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> Iterator[str]:
    """A fresh `g-…` namespace, deleted afterwards: no Workflow of a Trigger test keeps running (or starting
    Jobs) after it, where later tests' cluster-wide job simulators would see them."""
    name = new_namespace(kubeconfig, "g")
    yield name
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    kubernetes.client.CoreV1Api(client).delete_namespace(name)


@pytest.fixture
def ingest(ingest_operator: OperatorProcess, ingest_port: int, namespace: str) -> Iterator[Ingest]:
    yield Ingest(ingest_port, namespace)
    assert ingest_operator.alive, f"the operator died:\n{ingest_operator.log()[-4000:]}"


def test_single_event_starts_one_workflow_persisted_before_202(kube: Kube, sim: JobSimulator, ingest: Ingest) -> None:
    kube.component("proc")
    trigger(kube, "orders", eventTypes=["com.example.order"])
    status, body = ingest.send("orders", event("o-1", {"total": 42}))
    assert status == 202, body
    [name] = body["workflows"]
    wf = kube.get("Workflow", name)  # exists the moment 202 is answered
    assert json.loads(wf["spec"]["input"]["data"]) == {"total": 42}
    assert wf["spec"]["input"]["contentType"] == "application/json"
    assert wf["metadata"]["labels"]["switchyard.dev/trigger"] == "orders"
    owner = wf["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Trigger" and owner["name"] == "orders" and owner["controller"] is True
    assert [(n["name"], n["component"]) for n in wf["spec"]["nodes"]] == [("run", "proc")]

    status, again = ingest.send("orders", event("o-1", {"total": 42}))  # re-sent: same source + id
    assert status == 202 and again["workflows"] == [name] and again["duplicate"] is True
    assert len(workflows(kube, "orders")) == 1

    kube.wait_phase(name, "Succeeded", timeout=60)
    final = wait_for(
        lambda: (s := kube.status("Trigger", "orders")).get("workflows", {}).get("succeeded") == 1 and s,
        30,
        what="stream statistics",
    )
    assert final["received"] == 2 and final["accepted"] == 2 and final["rejected"] == 0
    assert final["workflowsCreated"] == 1 and final["lastEventTime"]
    assert final["workflows"] == {"running": 0, "succeeded": 1, "failed": 0}


def test_binary_mode_types_and_filter(kube: Kube, ingest: Ingest) -> None:
    trigger(kube, "big", eventTypes=["com.example.order"], filter="event.data.total > 100")
    status, body = ingest.send("big", event("b-1", {"total": 500}), binary=True)
    assert status == 202, body
    assert json.loads(kube.get("Workflow", body["workflows"][0])["spec"]["input"]["data"]) == {"total": 500}
    status, body = ingest.send("big", event("b-2", {"total": 5}), binary=True)
    assert status == 422 and body["reason"] == "Filtered", body
    status, body = ingest.send("big", event("b-3", {"total": 500}, type_="com.example.refund"))
    assert status == 422 and "not one of eventTypes" in body["error"]
    trigger(kube, "text")
    status, body = ingest.send("text", event("t-1", "hello plain text"), binary=True)
    assert status == 202
    wf = kube.get("Workflow", body["workflows"][0])
    assert wf["spec"]["input"] == {"data": "hello plain text", "contentType": "text/plain"}
    stats = wait_for(lambda: (s := kube.status("Trigger", "big")).get("rejected") == 2 and s, 30, what="rejections")
    assert stats["received"] == 3 and stats["accepted"] == 1 and "eventTypes" in stats["lastError"]


def test_malformed_unknown_too_large_and_invalid_trigger(kube: Kube, ingest: Ingest) -> None:
    trigger(kube, "strict")
    structured = {"Content-Type": "application/cloudevents+json"}
    status, _, body = ingest.post(ingest.path("strict"), b'{"specversion": "1.0", "type": "x"}', structured)
    assert status == 400 and "malformed CloudEvent" in body["error"] and "source" in body["error"], body
    no_id = b'{"specversion": "1.0", "type": "x", "source": "/s"}'
    status, _, body = ingest.post(ingest.path("strict"), no_id, structured)
    assert status == 400 and "missing required attribute 'id'" in body["error"], body
    status, _, body = ingest.post(ingest.path("strict"), b"{not json", structured)
    assert status == 400 and body["reason"] == "MalformedEvent"
    status, _, body = ingest.post(ingest.path("nope"), b"{}", structured)
    assert status == 404 and "nope" in body["error"]
    status, _, body = ingest.post(ingest.path("strict"), b"x" * (1024 * 1024 + 10), structured)
    assert status == 413, body
    stats = wait_for(lambda: (s := kube.status("Trigger", "strict")).get("rejected") == 3 and s, 30, what="stats")
    assert "MalformedEvent" in stats["lastError"]
    kube.wait_event("strict", "MalformedEvent")
    assert workflows(kube, "strict") == []

    kube.create("Trigger", "broken", {"workflowTemplate": TEMPLATE, "filter": "event.type =="})
    wait_for(
        lambda: any(c["status"] == "False" for c in kube.status("Trigger", "broken").get("conditions") or []),
        30,
        what="broken trigger not Ready",
    )
    condition = kube.status("Trigger", "broken")["conditions"][0]
    assert condition["reason"] == "InvalidFilter" and "CEL compile error" in condition["message"]
    kube.wait_event("broken", "InvalidFilter")
    status, body = ingest.send("broken", event("x-1", {}))
    assert status == 409 and "not Ready" in body["error"]

    with pytest.raises(kubernetes.client.ApiException) as refused:  # the input comes from events, not the template
        kube.create("Trigger", "fixed-input", {"workflowTemplate": {**TEMPLATE, "input": {"data": "x"}}})
    assert refused.value.status == 422 and "input comes from the events" in refused.value.body


def test_authentication_and_authorization(kube: Kube, ingest: Ingest, emulated_cluster: EmulatedCluster) -> None:
    trigger(kube, "guarded")
    emulated_cluster.auth.add_token("tok-reader", "reader")
    emulated_cluster.auth.add_token("tok-writer", "writer")
    emulated_cluster.auth.allow(
        user="writer", verb="create", api_group="switchyard.dev", resource="workflows", namespace=kube.namespace
    )
    status, body = ingest.send("guarded", event("a-1", {}), token=None)
    assert status == 401 and "bearer token" in body["error"]
    status, body = ingest.send("guarded", event("a-2", {}), token="not-a-token")
    assert status == 401 and "authentication failed" in body["error"]
    status, body = ingest.send("guarded", event("a-3", {}), token="tok-reader")
    assert status == 403 and '"reader" may not create workflows' in body["error"]
    status, body = ingest.send("guarded", event("a-4", {}), token="tok-writer")
    assert status == 202, body
    assert [w["metadata"]["name"] for w in workflows(kube, "guarded")] == body["workflows"]


def test_batches_by_count_keep_arrival_order(kube: Kube, ingest: Ingest) -> None:
    trigger(kube, "counted", batch={"maxItems": 3, "maxWaitSeconds": 3600})
    answers = [ingest.send("counted", event(f"c-{i}", {"n": i})) for i in range(7)]
    assert all(status == 202 for status, _ in answers), answers
    assert answers[0][1]["position"] == 1 and answers[2][1]["position"] == 3 and answers[2][1]["workflows"]
    assert pending_batches(kube, "counted")  # the 7th event waits in a persisted batch
    sealed = sorted(workflows(kube, "counted"), key=lambda w: w["metadata"]["creationTimestamp"])
    assert [batch_items(w) for w in sealed] == [[{"n": 0}, {"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}, {"n": 5}]]
    stats = wait_for(lambda: (s := kube.status("Trigger", "counted")).get("accepted") == 7 and s, 30, what="stats")
    assert stats["batchesPending"] == 1 and stats["workflowsCreated"] == 2
    status, dup = ingest.send("counted", event("c-6", {"n": 6}))
    assert status == 202 and dup["duplicate"] is True and dup["position"] == 1
    first_sealed = sealed[0]["metadata"]["name"]
    for resent in ("c-0", "c-1"):  # the first and a later event of a sealed batch, sent again
        status, dup = ingest.send("counted", event(resent, {"n": int(resent[2:])}))
        assert status == 202 and dup == {"trigger": "counted", "workflows": [first_sealed], "duplicate": True}
    assert len(workflows(kube, "counted")) == 2 and len(pending_batches(kube, "counted")[0].data) == 1


def test_batch_sealed_by_time(kube: Kube, ingest: Ingest) -> None:
    trigger(kube, "timed", batch={"maxItems": 100, "maxWaitSeconds": 1})
    for i in range(3):
        assert ingest.send("timed", event(f"w-{i}", {"n": i}))[0] == 202
    [wf] = wait_for(lambda: workflows(kube, "timed"), 30, what="batch sealed by time")
    assert batch_items(wf) == [{"n": 0}, {"n": 1}, {"n": 2}]
    wait_for(lambda: not pending_batches(kube, "timed"), 10, what="pending batch removed")


def test_several_triggers_on_one_type_each_start_their_own(kube: Kube, ingest: Ingest) -> None:
    trigger(kube, "audit", eventTypes=["com.example.order"])
    trigger(kube, "billing", eventTypes=["com.example.order"])
    trigger(kube, "refunds", eventTypes=["com.example.refund"])
    message = to_structured_event(event("fan-1", {"total": 1}))
    status, _, body = ingest.post(f"/v1/namespaces/{kube.namespace}/events", message.body, dict(message.headers))
    assert status == 202, body
    assert sorted(r["trigger"] for r in body["triggers"]) == ["audit", "billing"]
    assert len(workflows(kube, "audit")) == len(workflows(kube, "billing")) == 1
    assert workflows(kube, "refunds") == []


def test_concurrency_policies_and_running_cap(kube: Kube, sim: JobSimulator, ingest: Ingest) -> None:
    kube.component("proc")
    sim.rule = lambda job: Outcome(succeed=True, delay=30.0)  # keep the workflows running
    trigger(kube, "forbid", concurrencyPolicy="Forbid")
    assert ingest.send("forbid", event("f-1", {}))[0] == 202
    status, body = ingest.send("forbid", event("f-2", {}))
    assert status == 409 and "Forbid" in body["error"]
    trigger(kube, "capped", maxRunning=2)
    assert ingest.send("capped", event("m-1", {}))[0] == 202
    assert ingest.send("capped", event("m-2", {}))[0] == 202
    status, headers, body = ingest.post(ingest.path("capped"), *_structured(event("m-3", {})), token=ADMIN)
    assert status == 429 and headers.get("Retry-After") == "1" and "maxRunning is 2" in body["error"]
    trigger(kube, "replace", concurrencyPolicy="Replace")
    _, first = ingest.send("replace", event("r-1", {}))
    _, second = ingest.send("replace", event("r-2", {}))
    names = [w["metadata"]["name"] for w in workflows(kube, "replace") if not w["metadata"].get("deletionTimestamp")]
    assert names == second["workflows"] and first["workflows"] != second["workflows"]


def _structured(ce: CloudEvent) -> tuple[bytes, dict[str, str]]:
    message = to_structured_event(ce)
    return message.body, dict(message.headers)


def test_history_limit_and_failed_counts(kube: Kube, sim: JobSimulator, ingest: Ingest) -> None:
    kube.component("proc")

    def rule(job: SimJob) -> Outcome:
        return Outcome(succeed="fail" not in job.files.get("switchyard/input", ""))

    sim.rule = rule
    trigger(kube, "short", historyLimit=1)
    for i, data in enumerate(["ok-1", "fail-2", "ok-3"]):
        _, body = ingest.send("short", event(f"h-{i}", data))
        kube.wait_phase(body["workflows"][0], "Succeeded", "Failed", timeout=60)
    stats = wait_for(
        lambda: (s := kube.status("Trigger", "short")).get("workflows", {}).get("succeeded") == 2 and s,
        30,
        what="counts",
    )
    assert stats["workflows"]["failed"] == 1
    wait_for(lambda: len(workflows(kube, "short")) == 1, 30, what="history pruned to 1")


async def _burst(port: int, namespace: str, trigger_name: str, count: int, concurrency: int) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    url = f"http://127.0.0.1:{port}/v1/namespaces/{namespace}/triggers/{trigger_name}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> int:
            body, headers = _structured(event(f"burst-{i}", {"i": i}))
            async with limit:
                for _ in range(20):  # 429/503 are "retry later" answers; a bounded client honours them
                    headers["Authorization"] = f"Bearer {ADMIN}"
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status not in (429, 503):
                            return response.status
                    await asyncio.sleep(0.2)
                return -1

        return await asyncio.gather(*(one(i) for i in range(count)))


def test_burst_of_1000_events_none_lost_batches_exact(kube: Kube, ingest: Ingest, ingest_port: int) -> None:
    trigger(kube, "stream", batch={"maxItems": 10, "maxWaitSeconds": 3600}, historyLimit=1000)
    statuses = asyncio.run(_burst(ingest_port, kube.namespace, "stream", 1000, 16))
    assert statuses.count(202) == 1000, sorted(set(statuses))
    sealed = workflows(kube, "stream")
    assert len(sealed) == 100 and not pending_batches(kube, "stream")
    seen: list[int] = []
    for wf in sealed:
        items = batch_items(wf)
        assert len(items) == 10
        seen += [item["i"] for item in items]
    assert sorted(seen) == list(range(1000)), "an event was lost or doubled"
    stats = wait_for(lambda: (s := kube.status("Trigger", "stream")).get("accepted") == 1000 and s, 30, what="stats")
    assert stats["workflowsCreated"] == 100 and stats["batchesPending"] == 0 and stats["rejected"] == 0


def test_sigkill_with_a_pending_batch_loses_and_doubles_nothing(
    kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    namespace = new_namespace(kubeconfig, "k")
    kube = Kube(kubeconfig, namespace)
    port = free_port()
    proc = start_operator(kubeconfig, tmp_path / "operator.log", (namespace,), port)
    client = Ingest(port, namespace)
    try:
        trigger(kube, "survivor", batch={"maxItems": 5, "maxWaitSeconds": 3600})
        for i in range(3):
            assert client.send("survivor", event(f"k-{i}", {"n": i}))[0] == 202
        proc.kill()  # three accepted events wait in the pending batch
        assert len(pending_batches(kube, "survivor")) == 1
        proc.start()
        proc.wait_ready(timeout=60)
        wait_for(client.ready, 30, what="ingest back")
        assert client.send("survivor", event("k-2", {"n": 2}))[1]["duplicate"] is True  # re-sent after the crash
        for i in range(3, 5):
            assert client.send("survivor", event(f"k-{i}", {"n": i}))[0] == 202
        [wf] = workflows(kube, "survivor")
        assert batch_items(wf) == [{"n": i} for i in range(5)]
        assert not pending_batches(kube, "survivor")

        # A crash between sealing's two steps: the Workflow exists, the pending batch is still there.
        trigger(kube, "halfway", batch={"maxItems": 50, "maxWaitSeconds": 3600})
        for i in range(2):
            assert client.send("halfway", event(f"h-{i}", {"n": i}))[0] == 202
        proc.kill()
        [batch] = pending_batches(kube, "halfway")
        sealed_name = logic.batch_workflow_name("halfway", batch.metadata.name)
        kube.create(
            "Workflow", sealed_name, {"input": {"data": "[]"}, **TEMPLATE}, labels={"switchyard.dev/trigger": "halfway"}
        )
        proc.start()
        proc.wait_ready(timeout=60)
        wait_for(lambda: not pending_batches(kube, "halfway"), 30, what="sealed batch cleaned up")
        assert [w["metadata"]["name"] for w in workflows(kube, "halfway")] == [sealed_name]

        # A batch sealed by its timer after a restart.
        trigger(kube, "late", batch={"maxItems": 50, "maxWaitSeconds": 2})
        assert client.send("late", event("l-0", {"n": 0}))[0] == 202
        proc.kill()
        proc.start()
        proc.wait_ready(timeout=60)
        [late] = wait_for(lambda: workflows(kube, "late"), 30, what="timer survives the restart")
        assert batch_items(late) == [{"n": 0}]
    finally:
        proc.stop()
        kube.core.delete_namespace(namespace)


def test_a_trigger_named_past_63_characters_labels_its_workflows_with_a_cut_and_hashed_name(
    kube: Kube, sim: JobSimulator, ingest: Ingest
) -> None:
    """A Trigger's name may be 253 characters, a label value only 63: the label is the name cut, plus a hash."""
    kube.component("proc")
    name = "orders.eu-west." + "x" * 230 + "-final"  # 251 characters, a valid Trigger (DNS subdomain) name
    trigger(kube, name)
    status, body = ingest.send(name, event("long-1", {"total": 1}))
    assert status == 202, body
    [workflow] = body["workflows"]
    label = kube.get("Workflow", workflow)["metadata"]["labels"]["switchyard.dev/trigger"]
    assert label == logic.trigger_label(name) and len(label) == 63 and label.startswith("orders.eu-west.xxx")
    assert [w["metadata"]["name"] for w in workflows(kube, label)] == [workflow]
    kube.wait_phase(workflow, "Succeeded", timeout=60)
    stats = wait_for(
        lambda: (s := kube.status("Trigger", name)).get("workflows", {}).get("succeeded") == 1 and s,
        30,
        what="the long-named Trigger's stream statistics",
    )
    assert stats["workflowsCreated"] == 1 and stats["rejected"] == 0


def test_ingest_audiences_are_sent_in_the_token_review(
    kube: Kube, ingest: Ingest, emulated_cluster: EmulatedCluster, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A token for a custom audience (a projected service account token) is refused by an operator without
    `--ingest-audience` (the review asks for the API server's audience) and accepted by one with it, which in
    turn refuses a token only for the API server."""
    emulated_cluster.auth.add_token("tok-events", "sender", audiences=["switchyard-ingest"])
    emulated_cluster.auth.add_token("tok-api", "apiuser")
    for user in ("sender", "apiuser"):
        emulated_cluster.auth.allow(user=user, verb="create", api_group="switchyard.dev", resource="workflows")
    trigger(kube, "aud")
    status, body = ingest.send("aud", event("aud-1", {}), token="tok-events")
    assert status == 401 and 'token audiences ["switchyard-ingest"] is invalid' in body["error"], body

    port = free_port()
    extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1", "--ingest-audience", "switchyard-ingest")
    own = OperatorProcess(kubeconfig, tmp_path / "audience.log", namespaces=("au-*",), extra_args=extra).start()
    try:
        own.wait_ready(timeout=60)
        kube = Kube(kubeconfig, new_namespace(kubeconfig, "au"))
        audience_ingest = Ingest(port, kube.namespace)
        wait_for(audience_ingest.ready, 30, what="ingest endpoint up")
        trigger(kube, "aud")
        status, body = audience_ingest.send("aud", event("aud-2", {}), token="tok-events")
        assert status == 202, body
        status, body = audience_ingest.send("aud", event("aud-3", {}), token="tok-api")
        assert status == 401 and "is invalid for the target audiences" in body["error"], body
        kube.core.delete_namespace(kube.namespace)
    finally:
        own.stop()


def test_broadcast_event_no_trigger_takes_is_404_with_a_message(kube: Kube, ingest: Ingest) -> None:
    """Issue 19.13: an event nobody will handle is not 202 with nothing done."""
    path = f"/v1/namespaces/{kube.namespace}/events"
    message = to_structured_event(event("lost-1", {"total": 1}, type_="com.example.nobody"))
    status, _, body = ingest.post(path, message.body, dict(message.headers))
    assert status == 404 and body["reason"] == "NoMatchingTrigger", body
    assert body["error"] == (
        f'no Ready Trigger in namespace "{kube.namespace}" accepts events of type "com.example.nobody" '
        "(the namespace has no Triggers)"
    )
    trigger(kube, "refunds", eventTypes=["com.example.refund"])
    kube.create("Trigger", "broken", {"workflowTemplate": TEMPLATE, "filter": "event.type =="})
    wait_for(lambda: kube.status("Trigger", "broken").get("conditions"), 30, what="broken trigger has a status")
    status, _, body = ingest.post(path, message.body, dict(message.headers))
    assert status == 404 and body["error"].endswith("(refused by eventTypes or filter: refunds; not Ready: broken)")
    assert workflows(kube, "refunds") == [] and workflows(kube, "broken") == []
    refund = to_structured_event(event("r-1", {"total": 1}, type_="com.example.refund"))
    status, _, body = ingest.post(path, refund.body, dict(refund.headers))
    assert status == 202 and [r["trigger"] for r in body["triggers"]] == ["refunds"], body


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the kubectl binary is not installed on this machine")
def test_kubectl_get_triggers_shows_ready_and_its_reason(kube: Kube, ingest: Ingest, kubeconfig: pathlib.Path) -> None:
    """Issue 19.13: READY and REASON columns from the Ready condition; a Trigger not Ready is not a blank row."""
    trigger(kube, "good", eventTypes=["com.example.order"])
    kube.create("Trigger", "broken", {"workflowTemplate": TEMPLATE, "filter": "event.type =="})
    wait_for(lambda: kube.status("Trigger", "broken").get("conditions"), 30, what="broken trigger has a status")
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    listed = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "get", "sytrig", "-n", kube.namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert listed[0].split()[:4] == ["NAME", "READY", "REASON", "TYPES"], listed
    rows = {line.split()[0]: line.split()[1:3] for line in listed[1:]}
    assert rows == {"broken": ["False", "InvalidFilter"], "good": ["True", "Valid"]}, listed


def test_batched_events_sent_at_once_are_group_committed_in_fewer_patches_none_lost(
    kube: Kube, ingest: Ingest, ingest_port: int, emulated_cluster: EmulatedCluster
) -> None:
    trigger(kube, "grouped", batch={"maxItems": 1000, "maxWaitSeconds": 3600})
    statuses = asyncio.run(_burst(ingest_port, kube.namespace, "grouped", 300, 32))
    assert statuses.count(202) == 300, sorted(set(statuses))
    (pending,) = pending_batches(kube, "grouped")
    items = [json.loads(v)["i"] for v in (pending.data or {}).values()]
    assert sorted(items) == list(range(300)), "an accepted event is not in the batch"
    writes = next(n for key, n in emulated_cluster.api.written.writes.items() if key.endswith(pending.metadata.name))
    assert writes < 300 * 0.8, f"{writes} writes for 300 events: the events waiting together were not grouped"
