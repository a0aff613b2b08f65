"""Job and ConfigMap rendering, object names, and the summaries read from watched Jobs and Pods."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchyard.k8s import render
from switchyard.k8s.entries import job_entry, pod_entry
from switchyard.logic import naming
from switchyard.models.component import ComponentSpec

WORKFLOW = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u-1"}}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def job(component: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    spec = ComponentSpec.model_validate({"image": "registry/proc:1", **(component or {})})
    args: dict[str, Any] = {
        "name": naming.job_name("wf", "u-1", "b", 1, 2),
        "node": "b",
        "attempt": 2,
        "component_name": "proc",
        "component": spec,
        "node_config": {"level": 2},
        "deps": ["a"],
        "input_source": ("wf-input", "input"),
        "output_shards": 1,
    }
    args.update(kw)
    return render.job(WORKFLOW, **args)


def test_job_shape_labels_owner_and_retry_semantics() -> None:
    manifest = job({"timeoutSeconds": 30, "command": ["run"], "args": ["--fast"]})
    meta, spec = manifest["metadata"], manifest["spec"]
    assert meta["name"] == naming.job_name("wf", "u-1", "b", 1, 2)
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "switchyard",
        "switchyard.dev/workflow": "wf",
        "switchyard.dev/workflow-uid": "u-1",
        "switchyard.dev/node": "b",
        "switchyard.dev/attempt": "2",
        "switchyard.dev/component": "proc",
    }
    owner = meta["ownerReferences"][0]
    assert owner == {
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "Workflow",
        "name": "wf",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert spec["backoffLimit"] == 0 and spec["podReplacementPolicy"] == "Failed"
    assert spec["activeDeadlineSeconds"] == 30 + 600  # timeoutSeconds + pendingTimeoutSeconds: a backstop
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert (
        container["image"] == "registry/proc:1" and container["command"] == ["run"] and container["args"] == ["--fast"]
    )
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SWITCHYARD_WORKFLOW"] == "wf" and env["SWITCHYARD_NODE"] == "b" and env["SWITCHYARD_ATTEMPT"] == "2"


def test_restricted_pod_security_by_default() -> None:
    pod = job()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    sc = pod["containers"][0]["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/tmp"]["name"] == "tmp" and mounts["/switchyard"]["readOnly"] is True


def test_service_account_only_from_the_component() -> None:
    pod = job({"serviceAccountName": "reader"})["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "reader" and pod["automountServiceAccountToken"] is True


def test_data_reaches_files_never_the_command_line() -> None:
    manifest = job(input_source=("user-cm", "payload"), deps=["a", "c"], node_config={"level": 2, "x": {"y": 1}})
    template = manifest["spec"]["template"]
    sources = template["spec"]["volumes"][0]["projected"]["sources"]
    assert sources[0]["configMap"] == {
        "name": "user-cm",
        "items": [{"key": "payload", "path": "input"}],
        "optional": True,
    }
    field = sources[1]["downwardAPI"]["items"][0]
    assert field == {"path": "config.json", "fieldRef": {"fieldPath": "metadata.annotations['switchyard.dev/config']"}}
    assert sources[2]["configMap"]["name"] == "wf-outputs"
    assert sources[2]["configMap"]["items"] == [{"key": "a", "path": "upstream/a"}, {"key": "c", "path": "upstream/c"}]
    assert json.loads(template["metadata"]["annotations"]["switchyard.dev/config"]) == {"level": 2, "x": {"y": 1}}
    container = template["spec"]["containers"][0]
    assert "command" not in container and "args" not in container


def test_config_defaults_merge_under_node_config() -> None:
    merged = render.merge_config({"a": 1, "nested": {"x": 1, "y": 2}}, {"nested": {"y": 3}, "b": 2})
    assert merged == {"a": 1, "b": 2, "nested": {"x": 1, "y": 3}}


def test_oversized_config_is_a_render_error() -> None:
    with pytest.raises(render.RenderError, match="merged config of node 'b'"):
        job(node_config={"blob": "x" * (render.MAX_CONFIG_BYTES + 1)})


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=253), st.integers(1, 100))
def test_job_names_are_dns_labels(workflow: str, attempt: int) -> None:
    name = naming.job_name(workflow, "uid", "node-" + "x" * 57, 4999, attempt)
    assert len(name) <= 63 and DNS_LABEL.match(name), name


def test_job_names_do_not_collide_when_the_dash_moves() -> None:
    assert naming.job_name("wf-a", "u", "b", 0, 1) != naming.job_name("wf", "u", "a-b", 0, 1)
    assert naming.job_name("wf", "u", "a", 0, 1) != naming.job_name("wf", "u", "a", 0, 2)


def test_job_names_are_unique_by_construction_in_a_5000_node_workflow_with_a_long_name() -> None:
    """Issue 7.1: cut names plus a 24-bit hash collided (~50% in 5,000 nodes); index + attempt cannot."""
    workflow = "w" * 253
    names = {naming.job_name(workflow, "uid-1", f"node-{i:04d}-" + "x" * 40, i, 1) for i in range(5000)}
    assert len(names) == 5000
    # a recreated Workflow (same name, new uid) never reuses the old Jobs' names
    again = {naming.job_name(workflow, "uid-2", f"node-{i:04d}-" + "x" * 40, i, 1) for i in range(5000)}
    assert names.isdisjoint(again)


LABEL_RE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
SUBDOMAIN = st.from_regex(rf"{LABEL_RE}(\.{LABEL_RE}){{0,4}}", fullmatch=True)


@given(SUBDOMAIN.filter(lambda n: len(n) <= 253), st.integers(1, 40))
def test_derived_configmap_names_are_always_valid(workflow: str, shards: int) -> None:
    """Issue 7.3: any valid Workflow name gives valid ConfigMap names, whatever character lands at the cut."""
    assert naming.is_subdomain(naming.input_configmap(workflow))
    for node in ("a", "b", "c"):
        assert naming.is_subdomain(naming.output_configmap(workflow, node, shards))


def test_a_dot_at_the_cut_is_dropped() -> None:
    workflow = "a" * 246 + ".bbbbbb"  # 253 characters; "-input" cuts right after the dot
    name = naming.input_configmap(workflow)
    assert naming.is_subdomain(name) and name.endswith("a-input"), name


def test_outputs_spread_over_bounded_configmaps() -> None:
    shards = naming.output_shards(5000)
    names = {naming.output_configmap("wf", f"n{i}", shards) for i in range(5000)}
    assert len(names) == shards == 34
    counts: dict[str, int] = {}
    for i in range(5000):
        key = naming.output_configmap("wf", f"n{i}", shards)
        counts[key] = counts.get(key, 0) + 1
    assert max(counts.values()) * 4096 < 1024 * 1024, "a shard could outgrow a ConfigMap"


def test_job_entry_reads_job_controller_conditions() -> None:
    base = {
        "metadata": {
            "name": "j",
            "labels": {"switchyard.dev/node": "a", "switchyard.dev/attempt": "3"},
            "annotations": {"switchyard.dev/workflow": "wf"},
        }
    }
    assert job_entry({**base, "status": {"active": 1}}).state == "Active"  # type: ignore[union-attr]
    done = job_entry({**base, "status": {"conditions": [{"type": "Complete", "status": "True"}],
                                         "completionTime": "2026-01-01T00:00:05Z"}})  # fmt: skip
    assert done is not None and done.state == "Succeeded" and done.attempt == 3 and done.finished_at is not None
    condition = {
        "type": "Failed",
        "status": "True",
        "reason": "DeadlineExceeded",
        "lastTransitionTime": "2026-01-01T00:00:05Z",
    }
    failed = job_entry({**base, "status": {"conditions": [condition]}})  # fmt: skip
    assert failed is not None and failed.state == "Failed" and failed.reason == "DeadlineExceeded"
    assert job_entry({"metadata": {"name": "other", "labels": {}}}) is None


def test_pod_entry_reads_the_termination_message() -> None:
    pod = {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": "j"}},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 0, "message": "out"}}}],
        },
    }
    entry = pod_entry(pod)
    assert entry is not None and entry.job == "j" and entry.message == "out" and entry.exit_code == 0
    legacy = {"metadata": {"labels": {"job-name": "k"}}, "status": {}}
    assert pod_entry(legacy) is not None and pod_entry(legacy).message is None  # type: ignore[union-attr]


def test_pod_entry_marks_pods_that_can_never_start() -> None:
    def pod(reason: str) -> dict[str, Any]:
        state = {"waiting": {"reason": reason, "message": "why"}}
        return {
            "metadata": {"labels": {"job-name": "j"}},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "state": state}]},
        }

    stuck = pod_entry(pod("InvalidImageName"))
    assert stuck is not None and stuck.stuck and stuck.waiting_message == "why"
    assert not pod_entry(pod("ImagePullBackOff")).stuck  # type: ignore[union-attr]
    assert not pod_entry(pod("ContainerCreating")).stuck  # type: ignore[union-attr]


def test_entries_share_the_strings_that_every_job_and_pod_repeats() -> None:
    """Each watch event decodes its own copies; the stores keep one object per repeated text."""

    def job(name: str) -> dict[str, Any]:
        meta = {
            "name": name,
            "labels": {"switchyard.dev/node": "a", "switchyard.dev/attempt": "1"},
            "annotations": {"switchyard.dev/workflow": "".join(["w", "f"])},
            "ownerReferences": [{"controller": True, "uid": "".join(["u", "1"])}],
        }
        return json.loads(json.dumps({"metadata": meta, "status": {}}))

    one, two = job_entry(job("j1")), job_entry(job("j2"))
    assert one is not None and two is not None
    assert one.workflow is two.workflow and one.owner_uid is two.owner_uid and one.node is two.node
    pods = [
        pod_entry(
            json.loads(
                json.dumps(
                    {
                        "metadata": {"labels": {"job-name": name}, "annotations": {"switchyard.dev/workflow": "wf"}},
                        "status": {"phase": "Succeeded"},
                    }
                )
            )
        )
        for name in ("j1", "j2")
    ]
    assert pods[0] is not None and pods[1] is not None
    assert pods[0].phase is pods[1].phase and pods[0].workflow is pods[1].workflow is one.workflow


def test_only_what_a_runner_acts_on_is_news() -> None:
    """~6 watch events per Job reach the informer; the runner is woken for the ones it acts on."""
    meta = {
        "name": "j",
        "labels": {"switchyard.dev/node": "a", "switchyard.dev/attempt": "1"},
        "annotations": {"switchyard.dev/workflow": "wf"},
        "ownerReferences": [{"controller": True, "uid": "u1"}],
    }

    def job(version: str, status: dict[str, Any], uid: str = "u1") -> Any:
        owner = [{"controller": True, "uid": uid}]
        return job_entry({"metadata": {**meta, "resourceVersion": version, "ownerReferences": owner}, "status": status})

    created, active = job("1", {}), job("2", {"active": 1})
    done = job("3", {"conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-01-01T00:00:05Z"})
    assert not created.is_news(None) and not active.is_news(created)  # its own create, then Active
    assert done.is_news(active) and done.is_news(None)  # finished; or first seen finished (a relist)
    assert not done.is_news(done)
    assert job("4", {"active": 1}, uid="u2").is_news(active)  # the same name is now another owner's Job

    def pod(phase: str, container: dict[str, Any] | None = None) -> Any:
        statuses = [{"name": "main", "state": container}] if container else []
        labels = {"job-name": "j"}
        body = {"metadata": {"labels": labels}, "status": {"phase": phase, "containerStatuses": statuses}}
        return pod_entry(body)

    pending, running = pod("Pending"), pod("Running", {"running": {}})
    assert not pending.is_news(None) and not running.is_news(pending)
    stuck = pod("Pending", {"waiting": {"reason": "InvalidImageName", "message": "bad"}})
    assert stuck.is_news(pending) and stuck.is_news(None)
    finished = pod("Succeeded", {"terminated": {"exitCode": 0, "message": "out"}})
    assert finished.is_news(running) and not finished.is_news(finished)
