"""The Job and Pod informer (k8s/informer.py) against the emulated API: list, watch, resume, relist; and the
namespace watch (k8s/namespaces.py) without RBAC."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kopf._cogs.structs.references import Insights
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.entries import JobEntry, PodEntry
from switchyard.k8s.informer import FastWatch, Informer, ListWatch, Store, Summary, exact_names, serves
from switchyard.k8s.namespaces import NamespaceWatch
from switchyard.k8s.runtime import Views
from switchyard.models.labels import ANNOTATION_WORKFLOW, LABEL_ATTEMPT, LABEL_NODE, LABEL_WORKFLOW
from switchyard.sandbox.apiserver import EmulatedCluster

NS = "inf"


@pytest.fixture(scope="module")
def small_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedCluster, Any]]:
    with EmulatedCluster(namespaces=[NS, "other"], history_window=20) as cluster:
        path = cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
        client = kubernetes.config.new_client_from_config(config_file=str(path))
        yield cluster, client
        client.close()


def job(name: str, workflow: str = "wf", node: str = "a") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {LABEL_WORKFLOW: workflow, LABEL_NODE: node, LABEL_ATTEMPT: "1"},
            "annotations": {ANNOTATION_WORKFLOW: workflow},
        },
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "example.com/x:1"}]}
            }
        },
    }


async def until(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_jobs_are_listed_watched_and_forgotten_and_runners_told_on_the_loop(small_cluster: Any) -> None:
    _, client = small_cluster
    batch = kubernetes.client.BatchV1Api(client)
    batch.create_namespaced_job(NS, job("before"))  # there before the informer starts: from the list
    batch.create_namespaced_job(NS, {**job("plain"), "metadata": {"name": "plain"}})  # not a workflow's
    told: list[tuple[str, str, str]] = []
    threads: set[int] = set()

    def on_change(namespace: str, workflow: str, name: str) -> None:
        threads.add(threading.get_ident())
        told.append((namespace, workflow, name))

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", [], on_change, asyncio.get_running_loop())
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        assert ("inf", "before") in informer.store and ("inf", "plain") not in informer.store
        batch.create_namespaced_job(NS, job("after", workflow="wf2"))
        await until(lambda: ("inf", "after") in informer.store)
        status = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
        batch.patch_namespaced_job_status("after", NS, status)
        await until(lambda: next(iter(informer.store[("inf", "after")])).state == "Succeeded")
        batch.delete_namespaced_job("before", NS)
        await until(lambda: ("inf", "before") not in informer.store)
        informer.stop()
        assert threads == {threading.get_ident()}  # stores and runners are touched on the loop only
        return informer

    informer = asyncio.run(scenario())
    # "after" appearing Active is no news to its runner; finishing is, once
    assert ("inf", "wf", "before") in told and told.count(("inf", "wf2", "after")) == 1
    assert told[-1] == ("inf", "wf", "before")  # the deletion woke the runner
    assert informer.lists == 1
    batch.delete_namespaced_job("after", NS)


def test_an_expired_watch_lists_again_and_misses_nothing(small_cluster: Any) -> None:
    """The emulator keeps 20 events; the watch resumes every second from the last Job it saw: after 30
    unrelated writes that version is gone (410), and the informer lists again."""
    _, client = small_cluster
    batch, core = kubernetes.client.BatchV1Api(client), kubernetes.client.CoreV1Api(client)

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", [NS], lambda *_: None, asyncio.get_running_loop())
        informer.watch_seconds = 1
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        for i in range(30):
            core.create_namespaced_config_map("other", {"metadata": {"name": f"noise-{i}"}})
        await until(lambda: informer.lists >= 2, timeout=15)
        batch.create_namespaced_job(NS, job("late"))
        await until(lambda: ("inf", "late") in informer.store)
        informer.stop()
        return informer

    informer = asyncio.run(scenario())
    assert informer.lists >= 2


def test_a_relist_drops_what_was_deleted_unseen_and_tells_its_runner() -> None:
    told: list[tuple[str, str, str]] = []

    def on_change(namespace: str, workflow: str, name: str) -> None:
        told.append((namespace, workflow, name))

    async def scenario() -> Store:
        informer = Informer(kubernetes.client.ApiClient(), "jobs", ["a", "b"], on_change, asyncio.get_running_loop())
        kept, gone, elsewhere = (
            Summary((ns, name), name, JobEntry(name, "wf", "n", 1, "Active", None, ""), "wf")
            for ns, name in (("a", "kept"), ("a", "gone"), ("b", "other"))
        )
        for summary in (kept, gone, elsewhere):
            informer.changed(False, summary)
        told.clear()
        informer.listed("a", [kept])
        assert not informer.synced.is_set()  # "b" has not been listed yet
        informer.listed("b", [elsewhere])
        assert informer.synced.is_set()
        return informer.store

    store = asyncio.run(scenario())
    assert told == [("a", "wf", "gone")]  # unchanged objects wake nobody
    assert ("a", "gone") not in store and ("a", "kept") in store and ("b", "other") in store


def test_a_finished_workflows_jobs_and_pods_are_forgotten_but_never_its_namesakes() -> None:
    """Memory: nothing reads a finished Workflow's Jobs and Pods again, so the stores drop them; a recreated
    namesake's (same name, another uid) stay."""
    jobs, pods = Store(), Store()

    def add(name: str, owner: str) -> None:
        jobs.put(Summary((NS, name), name, JobEntry(name, "wf", "a", 1, "Succeeded", None, "", owner_uid=owner), "wf"))
        pod = PodEntry(name, "Succeeded", "out", 0, "Completed", workflow="wf")
        pods.put(Summary((NS, name), f"{name}-pod", pod, "wf"))

    add("wf-a-0-1-old", "uid-old")
    add("wf-b-1-1-old", "uid-old")
    add("wf-a-0-1-new", "uid-new")
    other = JobEntry("x-a-0-1-u", "x", "a", 1, "Active", None, "", owner_uid="uid-x")
    jobs.put(Summary((NS, "x-a-0-1-u"), "x-a-0-1-u", other, "x"))
    views = Views(components={}, jobs=jobs, pods=pods)

    assert views.forget_finished(NS, "wf", "uid-old") == 2
    assert set(jobs) == {(NS, "wf-a-0-1-new"), (NS, "x-a-0-1-u")}
    assert set(pods) == {(NS, "wf-a-0-1-new")}
    assert jobs.keys_of(NS, "wf") == {(NS, "wf-a-0-1-new")}  # the index forgot them too
    assert views.forget_finished(NS, "wf", "uid-old") == 0  # nothing left to drop
    assert views.forget_finished(NS, "wf", "uid-new") == 1
    assert not jobs.keys_of(NS, "wf") and not pods.by_workflow and len(jobs) == 1
    jobs.drop((NS, "x-a-0-1-u"), "x-a-0-1-u")
    assert not jobs.by_workflow  # dropping the last object of a key unindexes it


def test_namespace_patterns_read_as_kopf_reads_them() -> None:
    """The informers must take exactly the namespaces kopf serves: globs, comma lists, `!` negations."""
    assert exact_names(["a", "b"]) and not exact_names(["a,b"]) and not exact_names(["t-*"]) and not exact_names([])
    assert not exact_names(["ns[12]"]) and serves("ns1", ["ns[12]"])
    patterns = ["team-*,!team-tmp-*", "ops"]
    assert [ns for ns in ("team-a", "team-tmp-1", "ops", "opsx", "other") if serves(ns, patterns)] == ["team-a", "ops"]
    assert serves("anything", ["!kube-*"]) and not serves("kube-system", ["!kube-*"])


def test_a_namespace_watch_without_rbac_ends_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """No permission to list namespaces: kopf falls back to the exact names; our watch must not retry forever."""
    calls: list[int] = []

    def forbidden(**_: Any) -> Any:
        calls.append(1)
        raise ApiException(status=403, reason="Forbidden")

    async def scenario() -> None:
        watch = NamespaceWatch(kubernetes.client.ApiClient(), ["team-*"], Insights(), asyncio.get_running_loop())
        watch.list_all = forbidden
        watch.start()
        await asyncio.to_thread(watch.threads[0].join, 10)
        assert not watch.threads[0].is_alive()

    with caplog.at_level(logging.WARNING, logger="switchyard.informer"):
        asyncio.run(scenario())
    assert calls == [1]
    assert [r.getMessage() for r in caplog.records] == [
        "namespaces: not allowed to list (HTTP 403); going on without this watch"
    ]


@pytest.mark.parametrize(
    "line",
    [
        '{"type": "MODIFIED", "object": {"metadata": {"name": "j", "resourceVersion": "7"}, "spec": {"n": [1, 2.5]}}}',
        '{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}',
        '{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}',
        "",
        "   ",
    ],
)
def test_fast_watch_decodes_lines_as_the_client_does(line: str) -> None:
    assert FastWatch().unmarshal_event(line, None) == kubernetes.watch.Watch().unmarshal_event(line, None)


def test_a_cut_watch_line_raises_so_the_informer_lists_again() -> None:
    """The client yields None for a line it cannot decode and goes on; an event is lost then, so the
    informer's decoder raises instead, and its thread lists again (see `_run`)."""
    line = '{"type": "ADDED", "object": '
    assert kubernetes.watch.Watch().unmarshal_event(line, None) is None
    with pytest.raises(ValueError):
        FastWatch().unmarshal_event(line, None)


def test_the_informers_watch_decodes_its_events_with_orjson(
    small_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's `Watch.stream` decodes a line with `json` itself when asked not to deserialize, and the
    orjson decoder would never run: the informer's events must reach `FastWatch.unmarshal_event`."""
    _, client = small_cluster
    batch = kubernetes.client.BatchV1Api(client)
    decoded: list[str] = []
    unmarshal = FastWatch.unmarshal_event

    def counting(self: FastWatch, data: str, return_type: Any) -> Any:
        event = unmarshal(self, data, return_type)
        if event:
            decoded.append(event["object"]["metadata"]["name"])
        return event

    monkeypatch.setattr(FastWatch, "unmarshal_event", counting)

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", [NS], lambda *_: None, asyncio.get_running_loop())
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        batch.create_namespaced_job(NS, job("decoded"))
        await until(lambda: ("inf", "decoded") in informer.store)
        informer.stop()
        return informer

    asyncio.run(scenario())
    assert "decoded" in decoded
    batch.delete_namespaced_job("decoded", NS)


def test_changes_handed_while_the_loop_is_busy_are_applied_in_order_after_one_wakeup() -> None:
    """A watch thread hands each change to the event loop; all that queue while the loop is busy are applied
    in order in one wake-up (one `call_soon_threadsafe`, not one per watch event)."""
    applied: list[tuple[str, int]] = []

    class Recording(ListWatch):
        def listed(self, scope: str | None, digests: list[Any]) -> None:
            applied.append(("listed", len(digests)))

        def changed(self, deleted: bool, digest: Any) -> None:
            applied.append(("deleted" if deleted else "changed", digest))

    async def scenario() -> Recording:
        watch = Recording("things", lambda: None, None, [None], asyncio.get_running_loop())

        def thread() -> None:
            watch.hand(watch.listed, None, [1, 2])
            for i in range(200):
                watch.hand(watch.changed, i % 7 == 0, i)

        worker = threading.Thread(target=thread)
        worker.start()
        worker.join()  # the loop is busy here: nothing ran yet
        assert applied == []
        await until(lambda: len(applied) == 201)
        watch.hand(watch.changed, False, 500)  # a later change wakes the loop again
        await until(lambda: len(applied) == 202)
        return watch

    watch = asyncio.run(scenario())
    assert applied == [("listed", 2)] + [("deleted" if i % 7 == 0 else "changed", i) for i in range(200)] + [
        ("changed", 500)
    ]
    assert watch.wakeups == 2


def test_a_change_that_fails_to_apply_does_not_drop_the_rest_of_its_batch(caplog: pytest.LogCaptureFixture) -> None:
    applied: list[int] = []

    class Fussy(ListWatch):
        def changed(self, deleted: bool, digest: Any) -> None:
            if digest == 3:
                raise ValueError("bad digest")
            applied.append(digest)

    async def scenario() -> None:
        watch = Fussy("things", lambda: None, None, [None], asyncio.get_running_loop())
        worker = threading.Thread(target=lambda: [watch.hand(watch.changed, False, i) for i in range(6)])
        worker.start()
        worker.join()
        await until(lambda: len(applied) == 5)

    with caplog.at_level(logging.ERROR, logger="switchyard.informer"):
        asyncio.run(scenario())
    assert applied == [0, 1, 2, 4, 5]
    assert [r.getMessage() for r in caplog.records] == ["things: applying a watched change failed"]


def listed_pages(cluster: EmulatedCluster, namespace: str) -> list[dict[str, str]]:
    """The query parameters of the Job lists (not watches) of `namespace`, from the emulator's request log."""
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return [
        dict(r.params)
        for r in list(cluster.api._requests)
        if r.method.value.upper() == "GET" and r.url.path == path and r.params.get("watch") != "true"
    ]


def test_a_list_comes_in_pages_and_the_watch_starts_from_its_version(small_cluster: Any) -> None:
    """At 20,000 Pods one list is a 100+ MB body decoded at once: the informer reads pages (`limit`), following
    `continue`, and watches from the version all pages share."""
    cluster, client = small_cluster
    kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": "paged"}})
    batch = kubernetes.client.BatchV1Api(client)
    for i in range(7):
        batch.create_namespaced_job("paged", job(f"p-{i}"))

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", ["paged"], lambda *_: None, asyncio.get_running_loop())
        informer.page_size = 3
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        batch.create_namespaced_job("paged", job("p-late"))  # seen by the watch that follows the pages
        await until(lambda: ("paged", "p-late") in informer.store)
        informer.stop()
        return informer

    informer = asyncio.run(scenario())
    assert {name for _, name in informer.store} == {f"p-{i}" for i in range(7)} | {"p-late"}
    pages = listed_pages(cluster, "paged")
    assert [p.get("limit") for p in pages] == ["3", "3", "3"] and informer.lists == 1
    assert "continue" not in pages[0] and all(p.get("continue") for p in pages[1:])


def test_a_page_refused_mid_list_starts_the_list_again(small_cluster: Any) -> None:
    """410 Expired for a continue token (etcd compacted the first page's revision): list again from the start."""
    cluster, client = small_cluster
    kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": "expiring"}})
    batch = kubernetes.client.BatchV1Api(client)
    for i in range(5):
        batch.create_namespaced_job("expiring", job(f"e-{i}"))
    fault = cluster.faults.inject(
        method="GET", path_regex=r"/namespaces/expiring/jobs$", status=410, reason="Expired", after=1, times=1
    )

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", ["expiring"], lambda *_: None, asyncio.get_running_loop())
        informer.page_size = 2
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        informer.stop()
        return informer

    informer = asyncio.run(scenario())
    assert fault.hits == 1 and informer.lists == 2
    assert {name for _, name in informer.store} == {f"e-{i}" for i in range(5)}


def test_bookmarks_keep_a_quiet_watch_resuming_without_a_relist(small_cluster: Any) -> None:
    """The emulator keeps 20 events. Nothing the informer watches changes while 30 other objects are written:
    the bookmark it gets carries the new version, and the next watch resumes from it (no 410, no relist)."""
    cluster, client = small_cluster
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespace({"metadata": {"name": "quiet"}})
    every, cluster.api.bookmark_seconds = cluster.api.bookmark_seconds, 0.3

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", ["quiet"], lambda *_: None, asyncio.get_running_loop())
        informer.watch_seconds = 8  # the last bookmark comes 2 s before the end: the noise is written well before
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        await until(lambda: informer.watched == 1)
        for i in range(30):
            core.create_namespaced_config_map("other", {"metadata": {"name": f"quiet-noise-{i}"}})
        written = cluster.api.resource_version
        await until(lambda: int(informer.versions["quiet"]) >= written, timeout=5)
        await until(lambda: informer.watched >= 2, timeout=15)  # the watch ended and the next one started
        kubernetes.client.BatchV1Api(client).create_namespaced_job("quiet", job("q-late"))
        await until(lambda: ("quiet", "q-late") in informer.store)
        informer.stop()
        return informer

    try:
        informer = asyncio.run(scenario())
    finally:
        cluster.api.bookmark_seconds = every
    assert informer.lists == 1


def test_stopping_an_informer_mid_watch_logs_no_failure(small_cluster: Any, caplog: pytest.LogCaptureFixture) -> None:
    """`stop()` closes the open watch under its thread: the dropped connection that follows is the stop,
    not a failure to warn about (it used to log `jobs watch in inf failed: ProtocolError`)."""
    _, client = small_cluster

    async def scenario() -> Informer:
        informer = Informer(client, "jobs", [NS], lambda *_: None, asyncio.get_running_loop())
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 10)
        await until(lambda: informer.watched >= 1 and bool(informer.watches))
        informer.stop()
        for thread in informer.threads:
            await asyncio.to_thread(thread.join, 10)
            assert not thread.is_alive()
        return informer

    with caplog.at_level(logging.DEBUG, logger="switchyard.informer"):
        asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
