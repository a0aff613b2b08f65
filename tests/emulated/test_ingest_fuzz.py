"""Hostile bodies on the ingest endpoint (issue 23 item 6): every malformed or hostile request is a 4xx with a
message, never a 5xx, and the operator stays alive and keeps accepting events.

Its own operator with `--ingest-port` on an `fz-…` namespace (no other operator acts there); hypothesis
generates the requests: random bytes, CloudEvents with fuzzed attributes and data (lone surrogates, NaN, huge
numbers, wrong types), JSON nested up to 200,000 levels, truncated JSON, binary mode with fuzzed headers,
with the admin's token, a bad token or none, to a plain, a filtered and a batched Trigger and the broker.
"""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.sandbox.process import OperatorProcess, free_port
from tests.emulated.conftest import Kube, new_namespace, wait_for

pytestmark = pytest.mark.emulated

ADMIN = "emulated"
TEMPLATE = {"nodes": [{"name": "run", "component": "proc"}]}
STRUCTURED = "application/cloudevents+json"


class Client:
    def __init__(self, port: int, namespace: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.namespace = namespace

    def post(self, path: str, body: bytes, headers: dict[str, str], token: str | None) -> tuple[int, Any]:
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(self.base + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text or b"null")
            except ValueError:
                return error.code, text.decode(errors="replace")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture(scope="module")
def fuzz_namespace(kubeconfig: pathlib.Path) -> Iterator[str]:
    name = new_namespace(kubeconfig, "fz")
    yield name
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    kubernetes.client.CoreV1Api(client).delete_namespace(name)


@pytest.fixture(scope="module")
def fuzz_operator(
    kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory, fuzz_namespace: str
) -> Iterator[tuple[OperatorProcess, Client]]:
    port = free_port()
    extra = ("--ingest-port", str(port), "--ingest-host", "127.0.0.1")
    log = tmp_path_factory.mktemp("fuzz") / "operator.log"
    proc = OperatorProcess(kubeconfig, log, namespaces=(fuzz_namespace,), extra_args=extra).start()
    proc.wait_ready(timeout=60)
    client = Client(port, fuzz_namespace)
    wait_for(client.healthy, 30, what="ingest endpoint up")
    kube = Kube(kubeconfig, fuzz_namespace)
    kube.create("Trigger", "plain", {"workflowTemplate": TEMPLATE})
    kube.create("Trigger", "filtered", {"workflowTemplate": TEMPLATE, "filter": "event.data.total > 0"})
    kube.create("Trigger", "batched", {"workflowTemplate": TEMPLATE, "batch": {"maxItems": 50}})
    for name in ("plain", "filtered", "batched"):
        wait_for(
            lambda n=name: any(  # type: ignore[misc]
                c["type"] == "Ready" and c["status"] == "True"
                for c in kube.status("Trigger", n).get("conditions") or []
            ),
            60,
            what=f"trigger {name} Ready",
        )
    yield proc, client
    proc.stop()


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth  # unterminated


# any text, lone surrogates included (st.characters leaves category Cs out unless it is asked for)
TEXT = st.text(st.characters(exclude_categories=()) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                                                     exclude_categories=()), max_size=20)  # fmt: skip
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)
ATTRIBUTE = st.text(max_size=30) | st.integers() | st.none() | JSON_VALUES
EVENTS = st.fixed_dictionaries(
    {
        "specversion": st.sampled_from(["1.0", "0.3", "2.0", ""]) | st.text(max_size=5),
        "id": TEXT | ATTRIBUTE,
        "source": st.just("/fuzz") | ATTRIBUTE,
        "type": st.just("com.example.fuzz") | ATTRIBUTE,
    },
    optional={
        "data": JSON_VALUES,
        "datacontenttype": st.sampled_from(["application/json", "text/plain", "application/octet-stream"]) | ATTRIBUTE,
        "data_base64": st.text(max_size=30) | ATTRIBUTE,
        "time": st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", ""]) | ATTRIBUTE,
        "subject": ATTRIBUTE,
        "fuzzext": JSON_VALUES,
    },
)


def structured(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()  # ensure_ascii: lone surrogates go out as \udxxx escapes, NaN as NaN


DEEP = st.builds(
    lambda depth, kind, wrap: (
        b'{"specversion":"1.0","id":"d","source":"/f","type":"t","data":' + nested(depth, kind) + b"}"
        if wrap
        else nested(depth, kind)
    ),
    st.integers(min_value=90, max_value=200_000),
    st.sampled_from(["array", "object", "open"]),
    st.booleans(),
)
BODIES = st.one_of(
    st.binary(max_size=2000),
    EVENTS.map(structured),
    EVENTS.map(structured).flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n])),
    DEEP,
    st.just(b'{"specversion":"1.0","id":"n","source":"/f","type":"t","data":' + b"9" * 100_000 + b"}"),
)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
CONTENT_TYPES = st.sampled_from([STRUCTURED, "application/json", "text/plain", "application/xml", ""]) | HEADER_TEXT
BINARY_HEADERS = st.fixed_dictionaries(
    {"ce-specversion": st.sampled_from(["1.0", "0.3", "9"]) | HEADER_TEXT, "ce-id": HEADER_TEXT},
    optional={"ce-source": HEADER_TEXT, "ce-type": HEADER_TEXT, "ce-time": HEADER_TEXT, "ce-fuzzext": HEADER_TEXT},
)
BINARY_OK = {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "/f", "ce-type": "t"}
TARGETS = st.sampled_from(["triggers/plain", "triggers/filtered", "triggers/batched", "events", "triggers/nope"])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    body=BODIES,
    content_type=CONTENT_TYPES,
    binary=st.none() | BINARY_HEADERS,
    token=st.sampled_from([ADMIN, ADMIN, ADMIN, None, "not-a-token"]),
    target=TARGETS,
)
def test_no_request_body_or_header_gets_a_5xx(
    fuzz_operator: tuple[OperatorProcess, Client],
    body: bytes,
    content_type: str,
    binary: dict[str, str] | None,
    token: str | None,
    target: str,
) -> None:
    proc, client = fuzz_operator
    headers = {"Content-Type": content_type, **(binary or {})}
    status, answer = client.post(f"/v1/namespaces/{client.namespace}/{target}", body, headers, token)
    assert status < 500, (status, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer.get("error"), (status, answer)  # a message, not a bare code
    if token is None or token == "not-a-token":
        assert status == 401
    assert proc.alive, proc.log()[-3000:]


def test_json_nested_100000_levels_deep_is_a_400_with_a_message_and_the_operator_lives(
    fuzz_operator: tuple[OperatorProcess, Client],
) -> None:
    proc, client = fuzz_operator
    path = f"/v1/namespaces/{client.namespace}/triggers/plain"
    for body, headers in [
        (nested(100_000, "array"), {"Content-Type": STRUCTURED}),
        (b'{"specversion":"1.0","id":"x","source":"/f","type":"t","data":' + nested(100_000, "object") + b"}",
         {"Content-Type": STRUCTURED}),
        (nested(100_000, "array"), {"Content-Type": "application/json", **BINARY_OK}),
    ]:  # fmt: skip
        status, answer = client.post(path, body, headers, ADMIN)
        assert (status, answer["reason"]) == (400, "NestedTooDeep"), answer
        assert answer["error"] == "the JSON body is nested more than 100 levels deep"
    # 100 levels are taken; the operator still accepts events
    ok = b'{"specversion":"1.0","id":"ok","source":"/f","type":"t","data":' + nested(99, "array") + b"}"
    status, answer = client.post(path, ok, {"Content-Type": STRUCTURED}, ADMIN)
    assert status == 202, answer
    assert proc.alive and client.healthy()
