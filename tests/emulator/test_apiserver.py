"""The emulated API server's extensions over kmock 0.8: each test fails against plain kmock."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.waiting import wait_for

pytestmark = pytest.mark.emulated

WIDGETS = "/apis/test.switchyard.dev/v1/namespaces/default/widgets"


def widget(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "test.switchyard.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_created_objects_get_server_metadata(raw):
    status, _, body = raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "meta1"}})
    assert status == 201
    meta = body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert meta["namespace"] == "default"
    assert body["kind"] == "ConfigMap" and body["apiVersion"] == "v1"
    _, _, second = raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "meta2"}})
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert isinstance(second["metadata"]["resourceVersion"], str)


def test_generation_bumps_only_outside_metadata_and_status(raw):
    raw("POST", WIDGETS, widget("gen1", size=1))
    _, _, body = raw("PATCH", f"{WIDGETS}/gen1", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    assert body["metadata"]["generation"] == 1
    _, _, body = raw("PATCH", f"{WIDGETS}/gen1/status", {"status": {"phase": "X"}}, "application/merge-patch+json")
    assert body["metadata"]["generation"] == 1
    rv = body["metadata"]["resourceVersion"]
    _, _, body = raw("PATCH", f"{WIDGETS}/gen1", {"spec": {"size": 2}}, "application/merge-patch+json")
    assert body["metadata"]["generation"] == 2
    assert int(body["metadata"]["resourceVersion"]) > int(rv)
    _, _, same = raw("PATCH", f"{WIDGETS}/gen1", {"spec": {"size": 2}}, "application/merge-patch+json")
    assert same["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]  # no-op keeps the RV


def test_stale_resource_version_is_a_409_conflict(raw):
    _, _, body = raw("POST", WIDGETS, widget("rv1", size=1))
    stale = body["metadata"]["resourceVersion"]
    raw("PATCH", f"{WIDGETS}/rv1", {"spec": {"size": 2}}, "application/merge-patch+json")
    status, _, error = raw(
        "PATCH",
        f"{WIDGETS}/rv1",
        {"metadata": {"resourceVersion": stale}, "spec": {"size": 3}},
        "application/merge-patch+json",
    )
    assert status == 409
    assert error["kind"] == "Status" and error["reason"] == "Conflict" and error["code"] == 409
    _, _, current = raw("GET", f"{WIDGETS}/rv1")
    current["metadata"]["resourceVersion"] = stale
    status, _, error = raw("PUT", f"{WIDGETS}/rv1", current)
    assert status == 409 and error["reason"] == "Conflict"


def test_failed_json_patch_test_is_422(raw):
    _, _, body = raw("POST", WIDGETS, widget("jp1", size=1))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "replace", "path": "/spec/size", "value": 5},
    ]
    status, _, error = raw("PATCH", f"{WIDGETS}/jp1", ops, "application/json-patch+json")
    assert status == 422 and error["reason"] == "Invalid"
    ops[0]["value"] = body["metadata"]["resourceVersion"]
    status, _, patched = raw("PATCH", f"{WIDGETS}/jp1", ops, "application/json-patch+json")
    assert status == 200 and patched["spec"]["size"] == 5


def test_error_bodies_are_status_objects(raw):
    status, _, error = raw("GET", f"{WIDGETS}/absent")
    assert status == 404 and error["kind"] == "Status" and error["reason"] == "NotFound"
    raw("POST", WIDGETS, widget("dup1"))
    status, _, error = raw("POST", WIDGETS, widget("dup1"))
    assert status == 409 and error["reason"] == "AlreadyExists"
    status, _, error = raw("POST", WIDGETS, {"metadata": {}})
    assert status == 422 and error["reason"] == "Invalid"


def test_status_subresource_separates_spec_and_status(raw):
    raw("POST", WIDGETS, {**widget("st1", size=1), "status": {"phase": "ignored-on-create"}})
    _, _, body = raw("GET", f"{WIDGETS}/st1")
    assert "status" not in body
    _, _, body = raw(
        "PATCH",
        f"{WIDGETS}/st1",
        {"spec": {"size": 2}, "status": {"phase": "no"}},
        "application/merge-patch+json",
    )
    assert body["spec"]["size"] == 2 and "status" not in body
    _, _, body = raw(
        "PATCH",
        f"{WIDGETS}/st1/status",
        {"spec": {"size": 9}, "status": {"phase": "Done"}},
        "application/merge-patch+json",
    )
    assert body["status"] == {"phase": "Done"} and body["spec"]["size"] == 2
    assert body["metadata"]["generation"] == 2


def test_namespace_paths_and_namespace_from_url(raw):
    status, _, body = raw("POST", "/api/v1/namespaces", {"metadata": {"name": "ns-paths"}})
    assert status == 201 and body["status"]["phase"] == "Active"
    status, _, body = raw("GET", "/api/v1/namespaces/ns-paths")
    assert status == 200 and body["metadata"]["name"] == "ns-paths"
    status, _, body = raw("POST", "/api/v1/namespaces/ns-paths/configmaps", {"metadata": {"name": "c"}})
    assert status == 201 and body["metadata"]["namespace"] == "ns-paths"
    status, _, body = raw("POST", "/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "c"}})
    assert status == 404
    status, _, body = raw("GET", "/api/v1/namespaces/ns-paths/configmaps")
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"].isdigit()
    assert [item["metadata"]["name"] for item in body["items"]] == ["c"]
    _, _, core = raw("GET", "/api/v1")
    assert core["groupVersion"] == "v1"


def test_label_and_field_selectors(raw):
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "sel"}})
    for name, labels in [("s1", {"app": "a", "tier": "x"}), ("s2", {"app": "b"}), ("s3", {})]:
        raw("POST", "/api/v1/namespaces/sel/configmaps", {"metadata": {"name": name, "labels": labels}})

    def names(query: str) -> list[str]:
        status, _, body = raw("GET", f"/api/v1/namespaces/sel/configmaps?{query}")
        assert status == 200, body
        return [item["metadata"]["name"] for item in body["items"]]

    assert names("labelSelector=app%3Da") == ["s1"]
    assert names("labelSelector=app%3D%3Da") == ["s1"]
    assert names("labelSelector=app!%3Da") == ["s2", "s3"]
    assert names("labelSelector=app+in+(a,b)") == ["s1", "s2"]
    assert names("labelSelector=app+notin+(a)") == ["s2", "s3"]
    assert names("labelSelector=tier") == ["s1"]
    assert names("labelSelector=!tier") == ["s2", "s3"]
    assert names("labelSelector=app,!tier") == ["s2"]
    assert names("fieldSelector=metadata.name%3Ds2") == ["s2"]
    assert names("fieldSelector=metadata.name!%3Ds2") == ["s1", "s3"]
    assert names("fieldSelector=metadata.namespace%3Dsel") == ["s1", "s2", "s3"]
    assert names("fieldSelector=metadata.labels.app%3Db") == ["s2"]
    status, _, _ = raw("GET", "/api/v1/namespaces/sel/configmaps?labelSelector=a+in+b")
    assert status == 400


def _watch_lines(url: str, count: int, timeout: float = 10) -> tuple[str, list[dict]]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        content_type = response.headers["Content-Type"]
        events = []
        while len(events) < count:
            line = response.readline()
            if not line:
                break
            events.append(json.loads(line))
    return content_type, events


def test_watch_is_json_lines_and_resumes_without_replay(cluster, raw):
    raw("POST", "/api/v1/namespaces", {"metadata": {"name": "watch"}})
    _, _, first = raw("POST", "/api/v1/namespaces/watch/configmaps", {"metadata": {"name": "w1"}})
    _, _, second = raw("POST", "/api/v1/namespaces/watch/configmaps", {"metadata": {"name": "w2"}})
    raw(
        "PATCH",
        "/api/v1/namespaces/watch/configmaps/w1",
        {"data": {"a": "b"}},
        "application/merge-patch+json",
    )
    url = f"{cluster.url}/api/v1/namespaces/watch/configmaps?watch=true&timeoutSeconds=1"
    content_type, events = _watch_lines(f"{url}&resourceVersion={second['metadata']['resourceVersion']}", 5)
    assert content_type.startswith("application/json")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "w1")]
    _, events = _watch_lines(url, 5)
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "w1"),
        ("ADDED", "w2"),
    ]
    assert first  # the full initial state without a resourceVersion


def test_watch_timeout_seconds_ends_the_stream(cluster):
    started = time.monotonic()
    _watch_lines(f"{cluster.url}/api/v1/namespaces/default/pods?watch=true&resourceVersion=1&timeoutSeconds=1", 99)
    assert time.monotonic() - started < 5


def test_watch_too_old_resource_version_is_410():
    with EmulatedCluster(history_window=3) as small:
        for index in range(6):
            small.create("v1/configmaps", {"metadata": {"name": f"c{index}", "namespace": "default"}})
        _, events = _watch_lines(f"{small.url}/api/v1/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1", 1)
        assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


def test_watch_streams_live_events_through_the_kubernetes_client(api_client, raw):
    core = kubernetes.client.CoreV1Api(api_client)
    initial = core.list_namespaced_config_map("default")
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=initial.metadata.resource_version,
            timeout_seconds=3,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) >= 2:
                watch.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "live1"}})
    raw("DELETE", "/api/v1/namespaces/default/configmaps/live1")
    thread.join(timeout=10)
    assert seen == [("ADDED", "live1"), ("DELETED", "live1")]


def test_crd_created_through_the_api_becomes_discoverable(raw):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.late.example.com"},
        "spec": {
            "group": "late.example.com",
            "scope": "Cluster",
            "names": {
                "plural": "gadgets",
                "singular": "gadget",
                "kind": "Gadget",
                "shortNames": ["gd"],
                "categories": ["all"],
            },
            "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}}}],
        },
    }
    status, _, _ = raw("GET", "/apis/late.example.com/v1beta1")
    assert status == 404
    status, _, body = raw("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201
    conditions = {c["type"]: c["status"] for c in body["status"]["conditions"]}
    assert conditions["Established"] == "True"
    _, _, groups = raw("GET", "/apis")
    assert "late.example.com" in [group["name"] for group in groups["groups"]]
    _, _, group = raw("GET", "/apis/late.example.com")
    assert group["preferredVersion"]["version"] == "v1beta1"
    _, _, resources = raw("GET", "/apis/late.example.com/v1beta1")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["gadgets"]["namespaced"] is False
    assert by_name["gadgets"]["kind"] == "Gadget"
    assert by_name["gadgets"]["shortNames"] == ["gd"]
    assert by_name["gadgets"]["categories"] == ["all"]
    assert "watch" in by_name["gadgets"]["verbs"]
    assert "gadgets/status" in by_name
    status, _, _ = raw("POST", "/apis/late.example.com/v1beta1/gadgets", {"metadata": {"name": "g1"}})
    assert status == 201
    raw("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.late.example.com")
    status, _, _ = raw("GET", "/apis/late.example.com/v1beta1")
    assert status == 404


def test_generate_name(raw):
    body = {"metadata": {"generateName": "event-"}, "reason": "Test"}
    _, _, first = raw("POST", "/api/v1/namespaces/default/events", body)
    status, _, second = raw("POST", "/api/v1/namespaces/default/events", body)
    assert status == 201
    assert first["metadata"]["name"].startswith("event-") and len(first["metadata"]["name"]) == len("event-") + 5
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_cascade_delete_by_owner_uid(cluster, raw):
    _, _, owner = raw("POST", WIDGETS, widget("owner1"))
    ref = {
        "apiVersion": "test.switchyard.dev/v1",
        "kind": "Widget",
        "name": "owner1",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    _, _, job = raw(
        "POST",
        "/apis/batch/v1/namespaces/default/jobs",
        {"metadata": {"name": "child1", "ownerReferences": [ref]}, "spec": {}},
    )
    job_ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "child1", "uid": job["metadata"]["uid"]}
    raw(
        "POST",
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "grandchild1", "ownerReferences": [job_ref]}},
    )
    raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "unrelated1"}})
    raw("DELETE", f"{WIDGETS}/owner1")
    assert cluster.get("jobs", "child1") is None
    assert cluster.get("pods", "grandchild1") is None
    assert cluster.get("configmaps", "unrelated1") is not None


def widget_ref(owner: dict) -> dict:
    return {"apiVersion": "test.switchyard.dev/v1", "kind": "Widget", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"]}  # fmt: skip


def test_the_collector_follows_owner_references_as_they_change(cluster, raw):
    """Two owners: the dependent goes with the last of them. References added or dropped by a later write count
    from then on (the collector's graph follows every write, not only creates)."""
    _, _, first = raw("POST", WIDGETS, widget("gc-a"))
    _, _, second = raw("POST", WIDGETS, widget("gc-b"))
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    raw("POST", jobs, {"metadata": {"name": "two-owners", "ownerReferences": [widget_ref(first), widget_ref(second)]}})
    raw("POST", jobs, {"metadata": {"name": "adopted-later"}})
    raw("POST", jobs, {"metadata": {"name": "released", "ownerReferences": [widget_ref(first)]}})
    merge = "application/merge-patch+json"
    raw("PATCH", f"{jobs}/adopted-later", {"metadata": {"ownerReferences": [widget_ref(first)]}}, merge)
    raw("PATCH", f"{jobs}/released", {"metadata": {"ownerReferences": None}}, merge)
    raw("DELETE", f"{WIDGETS}/gc-a")
    assert cluster.get("jobs", "two-owners") is not None  # gc-b still owns it
    assert cluster.get("jobs", "adopted-later") is None
    assert cluster.get("jobs", "released") is not None
    raw("DELETE", f"{WIDGETS}/gc-b")
    assert cluster.get("jobs", "two-owners") is None
    # a namesake of a deleted owner is another object: what named the old one is not its dependent
    _, _, old = raw("POST", WIDGETS, widget("gc-c"))
    raw("POST", jobs, {"metadata": {"name": "of-old", "ownerReferences": [widget_ref(old)]}})
    raw("DELETE", f"{WIDGETS}/gc-c", {"propagationPolicy": "Orphan"})
    raw("PATCH", f"{jobs}/of-old", {"metadata": {"ownerReferences": [widget_ref(old)]}}, merge)  # a stale ref
    _, _, new = raw("POST", WIDGETS, widget("gc-c"))
    raw("DELETE", f"{WIDGETS}/gc-c")
    assert cluster.get("jobs", "of-old") is not None and new["metadata"]["uid"] != old["metadata"]["uid"]


def owned_job(raw, owner: dict, name: str) -> None:
    ref = {"apiVersion": "test.switchyard.dev/v1", "kind": "Widget", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}  # fmt: skip
    raw("POST", "/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": name, "ownerReferences": [ref]}})


def test_orphan_deletion_leaves_dependents_owned_by_nobody(cluster, raw):
    """As the real collector does: the dependents stay, minus their references to the deleted owner."""
    _, _, owner = raw("POST", WIDGETS, widget("orphaner"))
    owned_job(raw, owner, "orphan1")
    raw("DELETE", f"{WIDGETS}/orphaner", {"propagationPolicy": "Orphan"})
    assert cluster.get("widgets", "orphaner") is None
    job = cluster.get("jobs", "orphan1")
    assert job is not None and not job["metadata"].get("ownerReferences")


def test_orphan_deletion_of_an_owner_with_finalizers_is_still_orphan(cluster, raw):
    """The policy holds across the finalizer's wait: removing the last finalizer must not cascade."""
    meta = {"name": "orphanfin", "finalizers": ["test/hold"]}
    _, _, owner = raw("POST", WIDGETS, {**widget("orphanfin"), "metadata": meta})
    owned_job(raw, owner, "orphan2")
    raw("DELETE", f"{WIDGETS}/orphanfin", {"propagationPolicy": "Orphan"})
    raw("PATCH", f"{WIDGETS}/orphanfin", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert cluster.get("widgets", "orphanfin") is None
    assert cluster.get("jobs", "orphan2") is not None


def test_a_paused_collector_collects_once_resumed(cluster, raw):
    _, _, owner = raw("POST", WIDGETS, widget("slowgc"))
    owned_job(raw, owner, "lagging1")
    with cluster.garbage_collector_paused():
        raw("DELETE", f"{WIDGETS}/slowgc")
        assert cluster.get("widgets", "slowgc") is None
        kept = cluster.get("jobs", "lagging1")
        assert kept is not None and kept["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert cluster.get("jobs", "lagging1") is None


def test_finalizers_delay_deletion(cluster, raw):
    raw("POST", WIDGETS, {**widget("fin1"), "metadata": {"name": "fin1", "finalizers": ["test/hold"]}})
    status, _, body = raw("DELETE", f"{WIDGETS}/fin1")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    assert cluster.get("widgets", "fin1") is not None
    raw("PATCH", f"{WIDGETS}/fin1", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert cluster.get("widgets", "fin1") is None


def test_fault_injection(cluster, raw):
    cluster.faults.inject(method="POST", path_regex=r"/configmaps$", status=429, times=1, retry_after=1)
    cluster.faults.inject(method="POST", path_regex=r"/configmaps$", status=500, times=1)
    cluster.faults.inject(method="POST", path_regex=r"/configmaps$", status=409, times=1)
    body = {"metadata": {"name": "fault1"}}
    status, headers, error = raw("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 429 and headers["Retry-After"] == "1" and error["reason"] == "TooManyRequests"
    status, _, error = raw("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 500 and error["reason"] == "InternalError" and error["kind"] == "Status"
    status, _, error = raw("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 409
    assert cluster.get("configmaps", "fault1") is None
    status, _, _ = raw("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 201


def test_fault_after_lets_the_first_matching_requests_through(cluster, raw):
    fault = cluster.faults.inject(method="GET", path_regex=r"/configmaps/after1$", status=503, times=1, after=2)
    raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "after1"}})
    statuses = [raw("GET", "/api/v1/namespaces/default/configmaps/after1")[0] for _ in range(4)]
    assert statuses == [200, 200, 503, 200] and fault.hits == 1 and fault.passed == 2


def test_table_responses_use_printer_columns(raw):
    raw("POST", WIDGETS, widget("tab1", size=7, ports=[{"port": 8080}]))
    status, _, table = raw("GET", f"{WIDGETS}?limit=500", Accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert status == 200 and table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Size", "Phase", "First-Port", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "tab1")
    assert row["cells"][1] == 7 and row["cells"][3] == 8080 and row["cells"][4].endswith("s")
    _, _, table = raw(
        "GET", "/api/v1/namespaces/default/configmaps", Accept="application/json;as=Table;v=v1;g=meta.k8s.io"
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]


def test_dry_run_does_not_store(cluster, raw):
    status, _, body = raw("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", {"metadata": {"name": "dry1"}})
    assert status == 201 and body["metadata"]["name"] == "dry1"
    assert cluster.get("configmaps", "dry1") is None


def test_put_and_server_side_apply(cluster, raw):
    status, _, body = raw(
        "PATCH",
        f"{WIDGETS}/ssa1?fieldManager=test",
        b"apiVersion: test.switchyard.dev/v1\nkind: Widget\nmetadata:\n  name: ssa1\nspec:\n  size: 1\n",
        "application/apply-patch+yaml",
    )
    assert status == 201 and body["spec"] == {"size": 1}
    body["spec"] = {"size": 4}
    status, _, body = raw("PUT", f"{WIDGETS}/ssa1", body)
    assert status == 200 and body["spec"] == {"size": 4} and body["metadata"]["generation"] == 2


def test_protobuf_bodies_are_refused(raw):
    status, _, error = raw(
        "POST", "/api/v1/namespaces/default/configmaps", b"\x00k8s", "application/vnd.kubernetes.protobuf"
    )
    assert status == 415 and error["kind"] == "Status"


def test_kubernetes_client_errors_map_to_api_exceptions(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("absent", "default")
    assert info.value.status == 404
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "client1"}, "data": {"a": "1"}})
    assert created.metadata.uid
    wait_for(lambda: core.read_namespaced_config_map("client1", "default").data == {"a": "1"}, timeout=5)


def test_object_history_and_request_log_are_bounded(raw):
    with EmulatedCluster() as small:
        small.api.versions_kept = 3
        small.api.requests_kept = 5
        small.create("v1/configmaps", {"metadata": {"name": "h", "namespace": "default"}})
        for index in range(10):
            Raw = type(raw)
            Raw(small.url)(
                "PATCH",
                "/api/v1/namespaces/default/configmaps/h",
                {"data": {"i": str(index)}},
                "application/merge-patch+json",
            )
        key = (small.api.find_type("configmaps").storage_key, "default", "h")
        assert len(small.api.objects[key].history) == 3
        assert small.api.objects[key]["data"] == {"i": "9"}
        kept = list(small.api)
        assert len(kept) <= 5
        # ids keep counting once the log is full: tests order requests by id (test_outputs.py)
        ids = [request.id for request in kept]
        assert ids == sorted(set(ids)) and ids[-1] == 9  # the tenth request


def test_health_endpoints(raw):
    for path in ("/healthz", "/livez", "/readyz"):
        with urllib.request.urlopen(raw.url + path, timeout=5) as response:
            assert response.read() == b"ok"
