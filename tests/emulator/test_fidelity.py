"""Sandbox fidelity (issue 9 part 2): what kubectl users see on a real cluster, with the real kubectl where it
matters. Each test fails without the behaviour it names."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading

import pytest
import yaml
from tests.emulator.test_pod_logs import GrowingLog

from switchyard.sandbox.waiting import wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKFLOW_CRD = REPO / "crds" / "workflows.switchyard.dev.yaml"
WORKFLOWS = "/apis/switchyard.dev/v1alpha1/namespaces/default/workflows"


@pytest.fixture(scope="module")
def sywf(cluster):
    """The real Workflow CRD (a structural schema: unknown fields are pruned) in the module's cluster."""
    if "workflows" not in {t.plural for t in cluster.api.registry.types()}:
        cluster.create("apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(WORKFLOW_CRD.read_text()))
    return cluster


def workflow(name: str, field: str = "parallelism") -> dict:
    return {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"input": {"data": "x"}, "nodes": [{"name": "a", "component": "c"}], field: 2},
    }


def test_jobs_get_the_selector_and_template_labels_the_job_api_defaults(raw):
    job = {
        "metadata": {"name": "sel1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            }
        },
    }
    status, _, body = raw("POST", "/apis/batch/v1/namespaces/default/jobs", job)
    assert status == 201
    uid = body["metadata"]["uid"]
    assert body["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert body["spec"]["template"]["metadata"]["labels"] == {
        "app": "x",
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "sel1",
        "controller-uid": uid,
        "job-name": "sel1",
    }


# -- with the real kubectl ----------------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")

WIDGET = """\
apiVersion: test.switchyard.dev/v1
kind: Widget
metadata:
  name: {name}
spec:
  {field}: 3
"""
WORKFLOW = """\
apiVersion: switchyard.dev/v1alpha1
kind: Workflow
metadata:
  name: {name}
spec:
  input: {{data: x}}
  nodes: [{{name: a, component: c}}]
  {field}: 2
"""


def kubectl(kubeconfig: pathlib.Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=stdin, capture_output=True, text=True, timeout=30
    )


@needs_kubectl
def test_apply_validates_on_the_server_without_validate_false(sywf, module_kubeconfig):
    ok = kubectl(module_kubeconfig, "apply", "-f", "-", stdin=WORKFLOW.format(name="v1", field="parallelism"))
    assert ok.returncode == 0, ok.stderr
    assert "workflow.switchyard.dev/v1 created" in ok.stdout
    typo = kubectl(module_kubeconfig, "apply", "-f", "-", stdin=WORKFLOW.format(name="v2", field="paralelism"))
    assert typo.returncode != 0
    assert 'strict decoding error: unknown field "spec.paralelism"' in typo.stderr
    assert sywf.get("workflows", "v2") is None
    # An update with a misspelled field is refused too (PATCH with fieldValidation=Strict).
    typo = kubectl(module_kubeconfig, "apply", "-f", "-", stdin=WORKFLOW.format(name="v1", field="paralelism"))
    assert typo.returncode != 0 and 'unknown field "spec.paralelism"' in typo.stderr
    manifest = WORKFLOW.format(name="v3", field="paralelism")
    warned = kubectl(module_kubeconfig, "apply", "--validate=warn", "-f", "-", stdin=manifest)
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.paralelism"' in warned.stderr
    stored = sywf.get("workflows", "v3")
    assert stored is not None and "paralelism" not in stored["spec"]  # pruned, as with Ignore


def test_field_validation_directives(sywf, raw):
    status, _, error = raw("POST", WORKFLOWS + "?fieldValidation=Strict", workflow("fv1", "x"))
    assert (status, error["reason"]) == (400, "BadRequest")
    assert error["message"] == 'strict decoding error: unknown field "spec.x"'
    status, headers, _ = raw("POST", WORKFLOWS + "?fieldValidation=Warn", workflow("fv1", "x"))
    assert status == 201 and headers["Warning"] == '299 - "unknown field \\"spec.x\\""'
    status, headers, _ = raw("POST", WORKFLOWS + "?fieldValidation=Ignore", workflow("fv2", "x"))
    assert status == 201 and "Warning" not in headers
    status, _, error = raw("POST", WORKFLOWS + "?fieldValidation=Loose", workflow("fv3"))
    assert status == 400 and "Unsupported value" in error["message"]


def test_openapi_v3_lists_group_versions_with_field_validation(sywf, raw):
    status, _, index = raw("GET", "/openapi/v3")
    assert status == 200
    assert {"api/v1", "apis/batch/v1", "apis/test.switchyard.dev/v1"} <= set(index["paths"])
    url = index["paths"]["apis/test.switchyard.dev/v1"]["serverRelativeURL"]
    status, _, doc = raw("GET", url)
    assert status == 200
    patch = doc["paths"]["/apis/test.switchyard.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "test.switchyard.dev",
        "version": "v1",
        "kind": "Widget",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][2].items()
    schema = doc["components"]["schemas"]["dev.switchyard.test.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"][0]["kind"] == "Widget"
    url = index["paths"]["apis/switchyard.dev/v1alpha1"]["serverRelativeURL"]
    schema = raw("GET", url)[2]["components"]["schemas"]["dev.switchyard.v1alpha1.Workflow"]
    assert "parallelism" in schema["properties"]["spec"]["properties"]  # what `kubectl explain` reads
    assert raw("GET", "/openapi/v3/apis/nothing.example/v1")[0] == 404


@needs_kubectl
def test_create_namespace_and_configmap_with_protobuf_bodies(cluster, module_kubeconfig):
    created = kubectl(module_kubeconfig, "create", "namespace", "proto-ns")
    assert created.returncode == 0, created.stderr
    assert cluster.get("namespaces", "proto-ns", namespace=None) is not None
    created = kubectl(module_kubeconfig, "create", "configmap", "proto-cm", "--from-literal=a=b", "-n", "proto-ns")
    assert created.returncode == 0, created.stderr
    stored = cluster.get("configmaps", "proto-cm", namespace="proto-ns")
    assert stored is not None and stored["data"] == {"a": "b"}
    assert "generateName" not in stored["metadata"]
    created = kubectl(module_kubeconfig, "create", "secret", "generic", "proto-s", "--from-literal=p=q")
    assert created.returncode == 0, created.stderr
    secret = cluster.get("secrets", "proto-s")
    assert secret is not None and secret["data"] == {"p": "cQ=="} and secret["type"] == "Opaque"


@needs_kubectl
def test_get_watch_keeps_the_printer_columns(cluster, module_kubeconfig):
    kubectl(module_kubeconfig, "apply", "-f", "-", stdin=WIDGET.format(name="w1", field="size"))
    proc = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(module_kubeconfig), "get", "widgets", "w1", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: len(lines) >= 2, timeout=20, what="the header and the first row")
        patch = '{"status": {"phase": "Spinning"}}'
        changed = kubectl(
            module_kubeconfig, "patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", patch
        )
        assert changed.returncode == 0, changed.stderr
        wait_for(lambda: any("Spinning" in line for line in lines), timeout=20, what="the update row")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[0].split()[:4] == ["NAME", "SIZE", "PHASE", "FIRST-PORT"]
    update = next(line for line in lines if "Spinning" in line).split()
    assert update[:3] == ["w1", "3", "Spinning"]  # the printer columns, not NAME + AGE


@needs_kubectl
def test_kubectl_logs_of_a_pod(cluster, module_kubeconfig):
    cluster.create("pods", {"metadata": {"name": "log1"}, "spec": {"containers": [{"name": "main", "image": "x"}]}})
    terminated = {"state": {"terminated": {"exitCode": 0, "message": '{"done": true}'}}, "name": "main"}
    with cluster.api.store.lock:  # as the job simulator's status patch leaves it
        cluster.api.store.get(cluster.api.find_type("pods"), "default", "log1")["status"]["containerStatuses"] = [
            terminated
        ]
    logs = kubectl(module_kubeconfig, "logs", "log1")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == '{"done": true}\n'
    source = GrowingLog(b"line 1\nline 2\n", finished=True)
    cluster.api.log_sources.append(lambda ns, pod, container: source if (ns, pod) == ("default", "log1") else None)
    try:
        assert kubectl(module_kubeconfig, "logs", "log1").stdout == "line 1\nline 2\n"
        assert kubectl(module_kubeconfig, "logs", "log1", "--tail=1").stdout == "line 2\n"
    finally:
        cluster.api.log_sources.clear()
    missing = kubectl(module_kubeconfig, "logs", "nope")
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr


def test_secret_string_data_is_stored_as_base64_data(raw):
    """The Secret API folds write-only `stringData` into `data` (over the same keys) on create and update."""
    secret = {"metadata": {"name": "sd1"}, "data": {"a": "b2xk", "k": "eA=="}, "stringData": {"a": "new", "s": "é"}}
    status, _, body = raw("POST", "/api/v1/namespaces/default/secrets", secret)
    assert status == 201
    assert "stringData" not in body
    assert body["data"] == {"a": "bmV3", "k": "eA==", "s": "w6k="}
    status, _, body = raw("PUT", "/api/v1/namespaces/default/secrets/sd1", {**body, "stringData": {"k": "y"}})
    assert status == 200
    assert body["data"] == {"a": "bmV3", "k": "eQ==", "s": "w6k="}
    status, _, stored = raw("GET", "/api/v1/namespaces/default/secrets/sd1")
    assert "stringData" not in stored and stored["data"]["k"] == "eQ=="
