"""A node's Pod with staging: restricted staging containers, credentials only as their secretKeyRefs."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_render import job

from switchyard.artifacts.location import ENV_STORE
from switchyard.artifacts.store import StoreSpec
from switchyard.k8s.entries import pod_entry
from switchyard.k8s.staging import Staging

STORE = StoreSpec.model_validate(
    {
        "endpoint": "minio.store:9000",
        "bucket": "data",
        "insecure": True,
        "credentialsSecretRef": {"name": "creds", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"},
    }
)
STAGING = Staging(
    store=STORE,
    image="registry/switchyard:1",
    workflow_uid="u-1",
    prefix="workflows/ns/wf/u-1/b/2",
    input_key="inputs/x",
    upstream={"a": "workflows/ns/wf/u-1/a/1.manifest.json", "z": None},
    max_node_bytes=1000,
)


def pod(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_staging_adds_stage_in_then_the_stage_out_sidecar_around_an_unchanged_main() -> None:
    spec = pod(job(staging=STAGING))
    stage_in, stage_out = spec["initContainers"]
    assert (stage_in["name"], stage_out["name"]) == ("stage-in", "stage-out")
    assert "restartPolicy" not in stage_in and stage_out["restartPolicy"] == "Always"
    assert stage_out["startupProbe"]["exec"]["command"][-1] == "/tmp/stage-out.ready"
    assert stage_in["image"] == stage_out["image"] == "registry/switchyard:1"
    assert stage_in["args"] == [
        "in", "--workflow-uid", "u-1", "--input-key", "inputs/x",
        "--upstream", "a=workflows/ns/wf/u-1/a/1.manifest.json", "--upstream", "z=",
    ]  # fmt: skip
    assert stage_out["args"][-4:] == ["--prefix", "workflows/ns/wf/u-1/b/2", "--max-bytes", "1000"]
    main = spec["containers"][0]
    assert main["image"] == "registry/proc:1"
    assert {"name": "switchyard", "mountPath": "/switchyard"} in main["volumeMounts"]
    assert spec["terminationGracePeriodSeconds"] >= 600
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes["switchyard"] and "projected" in volumes["switchyard-meta"]


def test_only_the_staging_containers_get_the_secret_and_only_by_reference() -> None:
    spec = pod(job(staging=STAGING))
    assert "secretKeyRef" not in json.dumps(spec["containers"])
    for container in spec["initContainers"]:
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
        assert refs == [{"name": "creds", "key": "id"}, {"name": "creds", "key": "secret"}]
        store = json.loads(next(e["value"] for e in container["env"] if e["name"] == ENV_STORE))
        assert store["bucket"] == "data" and store["credentialsSecretRef"]["name"] == "creds"
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert {"name": "staging-tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # not the Component's


def test_without_staging_the_pod_is_as_before() -> None:
    spec = pod(job())
    assert "initContainers" not in spec
    assert spec["containers"][0]["volumeMounts"][0] == {
        "name": "switchyard",
        "mountPath": "/switchyard",
        "readOnly": True,
    }


def _pod(init: list[dict[str, Any]], main: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "labels": {"batch.kubernetes.io/job-name": "j"}},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": init,
            "containerStatuses": [{"name": "main", "state": main or {"waiting": {"reason": "PodInitializing"}}}],
        },
    }


def _terminated(name: str, code: int, message: str) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "reason": "Error", "message": message}}}


def test_a_failed_stage_in_is_the_pods_message_and_marked_as_staging() -> None:
    entry = pod_entry(_pod([_terminated("stage-in", 1, "ArtifactCorrupt: k: got 3 bytes")]))
    assert entry is not None and entry.staging_failed
    assert entry.message == "ArtifactCorrupt: k: got 3 bytes" and entry.exit_code == 1


def test_the_main_containers_message_wins_and_is_never_taken_for_staging() -> None:
    main = {"terminated": {"exitCode": 1, "message": "ArtifactCorrupt: claimed by the component"}}
    entry = pod_entry(
        _pod([_terminated("stage-in", 0, ""), _terminated("stage-out", 1, "OutputTooLarge: 9 bytes")], main)
    )
    assert entry is not None and not entry.staging_failed
    assert entry.message == "ArtifactCorrupt: claimed by the component"
    assert entry.sidecar_message == "OutputTooLarge: 9 bytes"
