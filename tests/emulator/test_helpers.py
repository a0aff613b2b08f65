"""Pure helpers of the emulator: selectors, patches, printer-column paths and ages, volumes, faults."""

from __future__ import annotations

import datetime

import pytest

from switchyard.sandbox import patching, tables
from switchyard.sandbox.faults import FaultInjector
from switchyard.sandbox.selectors import SelectorError, field_value, parse_field_selector, parse_label_selector
from switchyard.sandbox.volumes import VolumeError, materialize

pytestmark = pytest.mark.emulated


def obj(**labels: str) -> dict:
    return {"metadata": {"name": "n", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2)", {"a": "2"}, True),
        ("a notin (1,2)", {"a": "3"}, True),
        ("a notin (1,2)", {}, True),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("a in (1),b", {"a": "1"}, False),
    ],
)
def test_label_selectors(selector, labels, expected):
    assert parse_label_selector(selector)(obj(**labels)) is expected


def test_bad_selectors_raise():
    with pytest.raises(SelectorError):
        parse_label_selector("a in b")
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name")


def test_field_selectors_on_dotted_paths():
    assert parse_field_selector("status.phase=Running,metadata.namespace==ns")(obj())
    assert parse_field_selector("spec.absent=")(obj())
    assert field_value({"spec": {"flag": True}}, "spec.flag") == "true"


def test_merge_patch_replaces_lists_and_deletes_nulls():
    body = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert patching.merge_patch(body, {"a": {"c": [3]}, "d": None}) == {"a": {"b": 1, "c": [3]}}
    assert patching.merge_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}


def test_strategic_merge_merges_named_lists():
    body = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    patch = {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}],
    }
    assert patching.strategic_merge_patch(body, patch) == {"containers": [{"name": "b", "image": "2"}]}


def test_json_patch_test_failure_is_a_patch_error():
    with pytest.raises(patching.PatchError):
        patching.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    with pytest.raises(patching.PatchError):
        patching.json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])


def test_printer_column_paths():
    body = {"spec": {"ports": [{"port": 80}], "m": {"x.y": "v"}}}
    assert tables.evaluate(body, ".spec.ports[0].port") == 80
    assert tables.evaluate(body, "{.spec.ports[*].port}") == 80
    assert tables.evaluate(body, ".spec.m['x.y']") == "v"
    assert tables.evaluate(body, ".spec.absent.deeper") is None


def test_printer_column_filter_paths():
    """`[?(@.type=="Ready")]`, as the Ready column of ArtifactStores uses (kubectl's JSONPath filters)."""
    body = {"status": {"conditions": [{"type": "Valid", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    assert tables.evaluate(body, '.status.conditions[?(@.type=="Ready")].status') == "False"
    assert tables.evaluate(body, ".status.conditions[?(@.type=='Valid')].status") == "True"
    assert tables.evaluate(body, '.status.conditions[?(@.type=="Complete")].status') is None
    assert tables.evaluate({"status": {}}, '.status.conditions[?(@.type=="Ready")].status') is None


def test_printer_column_paths_with_a_filter_pick_a_condition():
    """The usual condition column of a CRD (`kubectl get` READY), as a real API server evaluates it."""
    body = {"status": {"conditions": [{"type": "Valid", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert tables.evaluate(body, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert tables.evaluate(body, '.status.conditions[?(@.type=="Other")].status') is None
    assert tables.evaluate({}, '.status.conditions[?(@.type=="Ready")].status') is None
    assert tables.evaluate(body, ".status.conditions[?(@.type==") is None  # unparsable: an empty cell


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (400 * 86400, "400d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_human_durations_match_kubernetes(seconds, text):
    assert tables.human_duration(seconds) == text


def test_age_of_a_timestamp():
    now = datetime.datetime(2024, 1, 1, 0, 1, 0, tzinfo=datetime.UTC)
    assert tables.age("2024-01-01T00:00:00Z", now) == "60s"
    assert tables.age("garbage", now) == "<unknown>"


def test_materialize_configmap_downward_and_projected_volumes():
    configmaps = {"in": {"input": "hello"}, "out": {"a": "A", "b": "B"}}
    spec = {
        "containers": [
            {
                "volumeMounts": [
                    {"name": "p", "mountPath": "/switchyard"},
                    {"name": "plain", "mountPath": "/etc/plain/"},
                    {"name": "d", "mountPath": "/meta"},
                ]
            }
        ],
        "volumes": [
            {
                "name": "p",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "in", "items": [{"key": "input", "path": "input"}]}},
                        {"configMap": {"name": "out", "items": [{"key": "a", "path": "upstream/a"}]}},
                        {"configMap": {"name": "gone", "optional": True}},
                        {"configMap": {"name": "out", "items": [{"key": "zz", "path": "z"}], "optional": True}},
                        {
                            "downwardAPI": {
                                "items": [{"path": "cfg", "fieldRef": {"fieldPath": "metadata.annotations['c']"}}]
                            }
                        },
                    ]
                },
            },
            {"name": "plain", "configMap": {"name": "out"}},
            {
                "name": "d",
                "downwardAPI": {
                    "items": [
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
                    ]
                },
            },
            {"name": "unmounted", "configMap": {"name": "gone"}},
        ],
    }
    metadata = {"name": "pod", "labels": {"tier": "x", "a": "b"}, "annotations": {"c": "{}"}}
    files = materialize(spec, metadata, configmaps.get)
    assert files == {
        "switchyard/input": "hello",
        "switchyard/upstream/a": "A",
        "switchyard/cfg": "{}",
        "etc/plain/a": "A",
        "etc/plain/b": "B",
        "meta/name": "pod",
        "meta/labels": 'a="b"\ntier="x"',
        "meta/tier": "x",
    }


def test_materialize_missing_required_configmap_fails():
    spec = {
        "containers": [{"volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
        "volumes": [{"name": "v", "configMap": {"name": "absent"}}],
    }
    with pytest.raises(VolumeError):
        materialize(spec, {}, {}.get)


def test_faults_count_down_and_match_method_and_path():
    faults = FaultInjector()
    fault = faults.inject(method="post", path_regex=r"/jobs$", status=500, times=2)
    assert faults.match("GET", "/apis/batch/v1/namespaces/a/jobs") is None
    assert faults.match("POST", "/apis/batch/v1/namespaces/a/jobs/x") is None
    assert faults.match("POST", "/apis/batch/v1/namespaces/a/jobs") is fault
    assert faults.match("POST", "/apis/batch/v1/namespaces/a/jobs") is fault
    assert faults.match("POST", "/apis/batch/v1/namespaces/a/jobs") is None
    assert fault.hits == 2
    forever = faults.inject(status=503, times=None)
    assert all(faults.match("GET", "/x") is forever for _ in range(5))
    faults.clear()
    assert faults.match("GET", "/x") is None
