"""The emulator's chunked lists (`limit`/`continue`, sandbox/paging.py), periodic watch bookmarks
(sandbox/bookmarks.py) and the stall fault (sandbox/faults.py), as a real API server (or a black hole) does."""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from tests.emulator.conftest import Raw

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.bookmarks import BookmarkTimer
from switchyard.sandbox.waiting import wait_for

NS = "/api/v1/namespaces/pages/configmaps"


@pytest.fixture(scope="module")
def paged(cluster: EmulatedCluster, raw: Raw) -> list[str]:
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "pages"}})
    names = [f"cm-{i}" for i in range(7)]
    for i, name in enumerate(names):
        raw("POST", NS, {"metadata": {"name": name, "labels": {"odd": str(i % 2)}}})
    return names


def pages(raw: Raw, path: str, **params: str) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, **({"continue": token} if token else {})}.items())
        status, _, body = raw("GET", f"{path}?{query}")
        assert status == 200, body
        yield body
        token = body["metadata"].get("continue", "")
        if not token:
            return


def test_a_limited_list_comes_in_pages_with_a_continue_token_and_the_remaining_count(
    raw: Raw, paged: list[str]
) -> None:
    got = list(pages(raw, NS, limit="3"))
    assert [[i["metadata"]["name"] for i in page["items"]] for page in got] == [paged[0:3], paged[3:6], paged[6:]]
    assert [page["metadata"].get("remainingItemCount") for page in got] == [4, 1, None]
    assert "continue" not in got[-1]["metadata"]
    assert len({page["metadata"]["resourceVersion"] for page in got}) == 1
    (whole,) = pages(raw, NS)  # no limit: one page, no token
    assert [i["metadata"]["name"] for i in whole["items"]] == paged and "continue" not in whole["metadata"]


def test_a_filtered_list_pages_without_a_remaining_count(raw: Raw, paged: list[str]) -> None:
    got = list(pages(raw, NS, limit="2", labelSelector="odd%3D0"))
    assert [i["metadata"]["name"] for page in got for i in page["items"]] == paged[0::2]
    assert len(got) == 2 and all("remainingItemCount" not in page["metadata"] for page in got)


def test_later_pages_come_from_the_first_pages_snapshot(raw: Raw, paged: list[str]) -> None:
    status, _, first = raw("GET", f"{NS}?limit=2")
    assert status == 200
    raw("POST", NS, {"metadata": {"name": "cm-late"}})  # created after the first page: not in this list
    raw("DELETE", f"{NS}/cm-5")  # deleted after the first page: still in it, as at its resourceVersion
    rest = list(pages(raw, NS, limit="10", **{"continue": first["metadata"]["continue"]}))
    names = [i["metadata"]["name"] for page in [first, *rest] for i in page["items"]]
    assert names == paged
    assert {page["metadata"]["resourceVersion"] for page in rest} == {first["metadata"]["resourceVersion"]}
    (now,) = pages(raw, NS)
    assert "cm-late" in [i["metadata"]["name"] for i in now["items"]]
    raw("DELETE", f"{NS}/cm-late")
    raw("POST", NS, {"metadata": {"name": "cm-5", "labels": {"odd": "1"}}})


def test_bad_foreign_and_expired_continue_tokens(cluster: EmulatedCluster, raw: Raw, paged: list[str]) -> None:
    status, _, error = raw("GET", f"{NS}?limit=2&continue=not-a-token")
    assert status == 400 and error["reason"] == "BadRequest" and "continue key is not valid" in error["message"]
    _, _, first = raw("GET", f"{NS}?limit=2")
    token = first["metadata"]["continue"]
    status, _, error = raw("GET", f"/api/v1/namespaces/pages/secrets?limit=2&continue={token}")
    assert status == 400 and error["reason"] == "BadRequest"
    status, _, error = raw("GET", f"{NS}?limit=2&resourceVersion=1&continue={token}")
    assert status == 400
    ttl, cluster.api.pager.ttl = cluster.api.pager.ttl, 0.0  # etcd compacted the revision
    try:
        status, _, error = raw("GET", f"{NS}?limit=2&continue={token}")
    finally:
        cluster.api.pager.ttl = ttl
    assert status == 410 and error["reason"] == "Expired" and "too old" in error["message"]


def test_the_kubernetes_client_pages_through_a_list(api_client: kubernetes.client.ApiClient, paged: list[str]) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    names: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_config_map("pages", limit=4, _continue=token)
        names += [item.metadata.name for item in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == paged


def test_tables_page_too(raw: Raw, paged: list[str]) -> None:
    """kubectl get asks for Tables with `limit=500` and follows the token."""
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    status, _, table = raw("GET", f"{NS}?limit=5", Accept=accept)
    assert status == 200 and [row["cells"][0] for row in table["rows"]] == paged[:5]
    status, _, rest = raw("GET", f"{NS}?limit=5&continue={table['metadata']['continue']}", Accept=accept)
    assert [row["cells"][0] for row in rest["rows"]] == paged[5:] and "continue" not in rest["metadata"]


def watch_events(cluster: EmulatedCluster, path: str, timeout: float = 10) -> list[dict[str, Any]]:
    with urllib.request.urlopen(cluster.url + path, timeout=timeout) as response:
        return [json.loads(line) for line in response if line.strip()]


def test_watches_that_allow_bookmarks_get_them_with_the_current_version(cluster: EmulatedCluster, raw: Raw) -> None:
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "marks"}})
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "noise"}})
    start = str(cluster.api.resource_version)
    every, cluster.api.bookmark_seconds = cluster.api.bookmark_seconds, 0.3
    try:
        for i in range(3):  # other namespaces' writes move the version on; nothing in "marks" changes
            raw("POST", "/api/v1/namespaces/noise/configmaps", {"metadata": {"name": f"n-{i}"}})
        written = cluster.api.resource_version
        path = "/api/v1/namespaces/marks/configmaps?watch=true&timeoutSeconds=3&resourceVersion="
        marked = watch_events(cluster, f"{path}{start}&allowWatchBookmarks=true")
        plain = watch_events(cluster, f"{path}{start}")
    finally:
        cluster.api.bookmark_seconds = every
    assert marked and {e["type"] for e in marked} == {"BOOKMARK"}
    assert marked[0]["object"]["kind"] == "ConfigMap" and marked[0]["object"]["apiVersion"] == "v1"
    assert int(marked[-1]["object"]["metadata"]["resourceVersion"]) >= written
    assert plain == []  # not asked for: none


def test_a_last_bookmark_comes_two_seconds_before_the_watch_ends(cluster: EmulatedCluster, raw: Raw) -> None:
    """A real server's period is a minute; a watch of 3 s still gets the one it sends before its deadline."""
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "lastmark"}})
    events = watch_events(
        cluster, "/api/v1/namespaces/lastmark/configmaps?watch=true&timeoutSeconds=3&allowWatchBookmarks=true"
    )
    assert [e["type"] for e in events] == ["BOOKMARK"]


def test_bookmark_timer_follows_the_watch_cache() -> None:
    timer = BookmarkTimer(1.0, now=0.0, deadline=4.5)
    due = [t / 10 for t in range(0, 60) if timer.due(t / 10)]
    assert due == [1.0, 2.0, 2.5]  # every second, then 2 s before the deadline, then none
    assert BookmarkTimer(1.0, now=0.0, deadline=1.5).next == math.inf  # a watch under 2 s gets none
    assert BookmarkTimer(None, now=0.0, deadline=None).wait(0.0) == math.inf


def test_a_stalled_request_is_never_answered_and_the_next_one_is(cluster: EmulatedCluster, raw: Raw) -> None:
    raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "stall1"}})
    fault = cluster.faults.inject(method="GET", path_regex=r"/configmaps/stall1$", stall=math.inf, times=1)
    url = f"{cluster.url}/api/v1/namespaces/default/configmaps/stall1"
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        urllib.request.urlopen(url, timeout=0.5)
    assert fault.hits == 1
    wait_for(lambda: fault.held == 0, 10, what="the emulator noticed the client hang up")
    status, _, body = raw("GET", "/api/v1/namespaces/default/configmaps/stall1")
    assert status == 200 and body["metadata"]["name"] == "stall1"


def test_a_finite_stall_answers_late_and_changes_nothing_else(cluster: EmulatedCluster, raw: Raw) -> None:
    fault = cluster.faults.inject(method="POST", path_regex=r"/configmaps$", stall=0.5, times=1)
    status, _, body = raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "stall2"}})
    assert status == 201 and body["metadata"]["name"] == "stall2" and fault.hits == 1
    assert cluster.get("configmaps", "stall2") is not None
