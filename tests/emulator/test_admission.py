"""What a real API server and etcd check on every write, as the emulator now does: managedFields per field
manager, etcd's 1.5 MiB request limit, metadata validation for every kind, MicroTime and Event rules."""

from __future__ import annotations

import json

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster

pytestmark = pytest.mark.emulated

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
WIDGETS = "/apis/test.switchyard.dev/v1/namespaces/default/widgets"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
EVENTS = "/api/v1/namespaces/default/events"
NEW_EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
MERGE = "application/merge-patch+json"


def entries(body: dict) -> dict[tuple[str, str, str], dict]:
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e for e in body["metadata"].get("managedFields", [])
    }


# -- managedFields --------------------------------------------------------------------------------------------


def test_managed_fields_record_each_manager_and_what_it_wrote(raw):
    widget = {"metadata": {"name": "mf1", "labels": {"app": "a"}}, "spec": {"size": 1, "colour": "red"}}
    status, _, body = raw("POST", f"{WIDGETS}?fieldManager=creator", widget)
    assert status == 201
    created = entries(body)[("creator", "Update", "")]
    assert created["fieldsType"] == "FieldsV1" and created["apiVersion"] == "test.switchyard.dev/v1"
    assert created["time"].endswith("Z")
    assert created["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {".": {}, "f:colour": {}, "f:size": {}},
    }
    # no fieldManager: the User-Agent up to its first "/" names the manager
    _, _, body = raw("PATCH", f"{WIDGETS}/mf1", {"spec": {"size": 2}}, MERGE, **{"User-Agent": "resizer/1.2 (linux)"})
    managers = entries(body)
    assert managers[("resizer", "Update", "")]["fieldsV1"] == {"f:spec": {"f:size": {}}}
    assert managers[("creator", "Update", "")]["fieldsV1"]["f:spec"] == {".": {}, "f:colour": {}}  # size moved
    _, _, body = raw("PATCH", f"{WIDGETS}/mf1/status?fieldManager=op", {"status": {"phase": "Done"}}, MERGE)
    assert entries(body)[("op", "Update", "status")]["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}
    _, _, fetched = raw("GET", f"{WIDGETS}/mf1")
    assert len(fetched["metadata"]["managedFields"]) == 3


def test_managed_fields_apply_owns_the_applied_fields_and_can_be_stripped(raw):
    applied = {"apiVersion": "test.switchyard.dev/v1", "kind": "Widget", "metadata": {"name": "mf2"}}
    applied["spec"] = {"size": 3}
    status, _, body = raw("PATCH", f"{WIDGETS}/mf2?fieldManager=kubectl", applied, "application/apply-patch+yaml")
    assert status in (200, 201)
    assert entries(body)[("kubectl", "Apply", "")]["fieldsV1"]["f:spec"] == {".": {}, "f:size": {}}
    _, _, body = raw("PATCH", f"{WIDGETS}/mf2?fieldManager=kubectl", applied, "application/apply-patch+yaml")
    assert ("kubectl", "Apply", "") in entries(body)
    # an empty list leaves them; a list with one empty entry strips them
    _, _, body = raw("PATCH", f"{WIDGETS}/mf2", {"metadata": {"managedFields": []}, "spec": {"x": 1}}, MERGE)
    assert ("kubectl", "Apply", "") in entries(body)
    _, _, body = raw("PATCH", f"{WIDGETS}/mf2?fieldManager=m", {"metadata": {"managedFields": [{}]}}, MERGE)
    assert "managedFields" not in body["metadata"]


# -- etcd's request size ---------------------------------------------------------------------------------------


def test_an_object_over_etcds_limit_is_a_500_request_too_large(raw):
    big = {"metadata": {"name": "big1"}, "spec": {"blob": "x" * 1_000_000}}
    status, _, _ = raw("POST", f"{WIDGETS}?fieldManager=a", big)
    assert status == 201
    # the same spec again under another key: the object is now over 1,572,864 bytes as stored
    status, _, body = raw("PATCH", f"{WIDGETS}/big1", {"spec": {"blob2": "y" * 600_000}}, MERGE)
    assert status == 500
    assert body["message"] == "etcdserver: request is too large" and body["reason"] == "InternalError"
    _, _, stored = raw("GET", f"{WIDGETS}/big1")
    assert "blob2" not in stored["spec"]


def test_managed_fields_count_toward_etcds_limit(raw):
    # 48,000 spec fields: ~0.85 MB of spec, under the limit alone, plus ~0.87 MB of managedFields naming them
    spec = {f"field{i:05d}": i for i in range(48_000)}
    status, _, body = raw("POST", f"{WIDGETS}?fieldManager=a", {"metadata": {"name": "big2"}, "spec": spec})
    assert status == 500 and body["message"] == "etcdserver: request is too large"
    assert len(json.dumps({"metadata": {"name": "big2"}, "spec": spec}, separators=(",", ":"))) < 1_572_864 - 10_000
    assert raw("POST", WIDGETS, {"metadata": {"name": "big3"}, "spec": dict(list(spec.items())[:20_000])})[0] == 201


def test_bytes_written_are_counted_per_object(cluster: EmulatedCluster, raw):
    raw("POST", f"{WIDGETS}?fieldManager=a", {"metadata": {"name": "count1"}, "spec": {"blob": "z" * 10_000}})
    for i in range(3):
        raw("PATCH", f"{WIDGETS}/count1/status?fieldManager=a", {"status": {"n": i}}, MERGE)
    written = cluster.api.written
    assert written.writes[written_key := "test.switchyard.dev/widgets/default/count1"] == 4
    assert written.bytes[written_key] > 4 * 10_000
    assert written.bytes_of("test.switchyard.dev", "widgets", "default", "count1") == written.bytes[written_key]


# -- metadata validation --------------------------------------------------------------------------------------


def test_label_keys_and_values_are_validated_for_every_kind(raw):
    status, _, body = raw("POST", CONFIGMAPS, {"metadata": {"name": "lbl1", "labels": {"app": "v" * 64}}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["message"] == (
        f'ConfigMap.core "lbl1" is invalid: metadata.labels: Invalid value: "{"v" * 64}": '
        "must be no more than 63 characters"
    )
    status, _, body = raw("POST", WIDGETS, {"metadata": {"name": "lbl2", "labels": {"bad key": "x"}}})
    assert status == 422
    assert 'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric' in body["message"]
    status, _, body = raw("POST", CONFIGMAPS, {"metadata": {"name": "lbl3", "labels": {"a": "-x"}}})
    assert status == 422 and "a valid label must be an empty string" in body["message"]
    prefix = "p" * 254 + "/name"
    status, _, body = raw("POST", CONFIGMAPS, {"metadata": {"name": "lbl4", "labels": {prefix: "x"}}})
    assert status == 422 and "prefix part must be no more than 253 characters" in body["message"]
    status, _, _ = raw(
        "POST", CONFIGMAPS, {"metadata": {"name": "lbl5", "labels": {"example.com/a_b.c": "", "k": "V_1"}}}
    )
    assert status == 201
    status, _, body = raw("PATCH", f"{CONFIGMAPS}/lbl5", {"metadata": {"labels": {"k": "v" * 70}}}, MERGE)
    assert status == 422


def test_annotations_are_limited_to_256_kib_in_total(raw):
    half = "a" * (128 * 1024)
    ok = {"metadata": {"name": "ann1", "annotations": {"one": half, "two": half[: -len("one") - len("two")]}}}
    status, _, _ = raw("POST", CONFIGMAPS, ok)
    assert status == 201
    status, _, body = raw("PATCH", f"{CONFIGMAPS}/ann1", {"metadata": {"annotations": {"x": "y"}}}, MERGE)
    assert status == 422
    assert body["message"].endswith("metadata.annotations: Too long: must have at most 262144 bytes")


def test_names_are_validated_as_kubernetes_does(raw):
    status, _, body = raw("POST", CONFIGMAPS, {"metadata": {"name": "a..b"}})
    assert status == 422 and "a lowercase RFC 1123 subdomain must consist of" in body["message"]
    status, _, body = raw("POST", "/api/v1/namespaces", {"metadata": {"name": "n" * 64}})
    assert status == 422 and "must be no more than 63 characters" in body["message"]
    # a Job's name becomes its Pod template's job-name label: over 63 characters it is refused
    job = {"metadata": {"name": "j" * 64}, "spec": {"template": {"spec": {"containers": []}}}}
    status, _, body = raw("POST", "/apis/batch/v1/namespaces/default/jobs", job)
    assert status == 422 and "spec.template.labels: Invalid value:" in body["message"]


def test_configmaps_are_limited_to_1_mib(raw):
    status, _, body = raw("POST", CONFIGMAPS, {"metadata": {"name": "cm-big"}, "data": {"k": "x" * (1024 * 1024)}})
    assert status == 422 and body["message"].endswith("[]: Too long: must have at most 1048576 bytes")


# -- MicroTime and Events -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "renew",
    ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.123Z", "2026-01-01T00:00:00.123456789Z"],
)
def test_lease_micro_times_need_exactly_six_fractional_digits(raw, renew):
    lease = {"metadata": {"name": "lease-bad"}, "spec": {"holderIdentity": "me", "renewTime": renew}}
    status, _, body = raw("POST", LEASES, lease)
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"].startswith('Lease in version "v1" cannot be handled as a Lease: parsing time')


def test_lease_micro_times_with_six_digits_are_accepted(raw):
    spec = {"holderIdentity": "me", "renewTime": "2026-01-01T00:00:00.000000+00:00"}
    status, _, _ = raw("POST", LEASES, {"metadata": {"name": "lease-ok"}, "spec": spec})
    assert status == 201
    status, _, _ = raw("PATCH", f"{LEASES}/lease-ok", {"spec": {"acquireTime": "2026-01-01T00:00:01Z"}}, MERGE)
    assert status == 400


def core_event(name: str, message: str, event_time: str | None = "2026-01-01T00:00:00.000001Z") -> dict:
    event = {
        "metadata": {"name": name},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
        "reason": "Tested",
        "message": message,
        "type": "Normal",
        "action": "Testing",
        "reportingComponent": "switchyard",
        "reportingInstance": "tests",
    }
    if event_time:
        event["eventTime"] = event_time
    return event


def test_event_messages_are_limited_to_1024_bytes_not_characters(raw):
    assert raw("POST", EVENTS, core_event("ev1", "a" * 1024))[0] == 201
    status, _, body = raw("POST", EVENTS, core_event("ev2", "é" * 513))  # 513 characters, 1,026 bytes
    assert status == 422
    assert body["message"].endswith('message: Invalid value: "": can have at most 1024 characters')
    # an Event without eventTime (the old recorder's) has no such rule
    assert raw("POST", EVENTS, core_event("ev3", "é" * 2000, event_time=None))[0] == 201
    # and its eventTime is a MicroTime
    assert raw("POST", EVENTS, core_event("ev4", "m", event_time="2026-01-01T00:00:00+00:00"))[0] == 400


def test_new_style_core_events_need_their_reporting_fields(raw):
    event = core_event("ev5", "m")
    del event["reportingComponent"], event["action"]
    status, _, body = raw("POST", EVENTS, event)
    assert status == 422
    assert "reportingComponent: Required value" in body["message"] and "action: Required value" in body["message"]


def test_events_k8s_io_note_is_limited_to_1_kib(raw):
    event = {
        "metadata": {"name": "nev1"},
        "eventTime": "2026-01-01T00:00:00.000001Z",
        "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
        "reason": "Tested",
        "action": "Testing",
        "type": "Normal",
        "reportingController": "switchyard.dev/operator",
        "reportingInstance": "tests",
        "note": "ü" * 600,
    }
    status, _, body = raw("POST", NEW_EVENTS, event)
    assert status == 422 and "can have at most 1024 characters" in body["message"]
    event["note"] = "ü" * 512
    assert raw("POST", NEW_EVENTS, event)[0] == 201
    event["metadata"] = {"name": "nev2"}
    event["type"] = "Info"
    status, _, body = raw("POST", NEW_EVENTS, event)
    assert status == 422 and "type: Invalid value" in body["message"]
