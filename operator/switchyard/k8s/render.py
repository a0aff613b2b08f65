"""Render the Kubernetes objects the operator owns: node Jobs and the input/outputs ConfigMaps.

The pod spec comes only from the Component (image, command, args, env, resources, service account);
a Workflow contributes data (files) and config, never what runs or with which privileges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from switchyard.k8s.staging import Staging, with_staging
from switchyard.logic import naming
from switchyard.logic.foreach import instance_name, output_key
from switchyard.models.component import ComponentSpec
from switchyard.models.crd import API_VERSION
from switchyard.models.labels import (
    ANNOTATION_CONFIG,
    ANNOTATION_WORKFLOW,
    LABEL_ATTEMPT,
    LABEL_COMPONENT,
    LABEL_NODE,
    LABEL_PURPOSE,
    LABEL_WORKFLOW,
    LABEL_WORKFLOW_UID,
    MANAGED_BY,
    NO_INJECTION_ANNOTATIONS,
    NO_INJECTION_LABELS,
)

MOUNT = "/switchyard"
RUN_AS = 65532
MAX_CONFIG_BYTES = 128 * 1024


class RenderError(ValueError):
    """A node cannot be turned into a Job (e.g. its config is too large for an annotation)."""


def owner_reference(workflow: Mapping[str, Any]) -> dict[str, Any]:
    meta = workflow["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def workflow_label(name: str) -> str:
    return naming.dns_label(name)


def merge_config(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Component defaults with the node's config on top (nested objects merged key by key)."""
    merged: dict[str, Any] = dict(defaults)
    for key, value in overrides.items():
        base = merged.get(key)
        merged[key] = merge_config(base, value) if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


def node_config_json(component: ComponentSpec, node: str, node_config: Mapping[str, Any]) -> str:
    """The merged config a node's Pod reads as config.json; RenderError when it is too large for a Job."""
    config_json = json.dumps(merge_config(component.config, node_config), sort_keys=True, separators=(",", ":"))
    size = len(config_json.encode())
    if size > MAX_CONFIG_BYTES:
        raise RenderError(f"merged config of node '{node}' is {size} bytes; the limit is {MAX_CONFIG_BYTES}")
    return config_json


def _items_by_configmap(
    workflow: str, deps: Iterable[str], shards: int, fan_in: Mapping[str, Iterable[int]] | None = None
) -> dict[str, list[dict[str, str]]]:
    """The projected items of the upstream outputs; a forEach dependency (`fan_in`: its instances that
    succeeded) is a directory: `results.json` and `i/result` per such instance."""
    grouped: dict[str, list[dict[str, str]]] = {}

    def add(key: str, path: str) -> None:
        grouped.setdefault(naming.output_configmap(workflow, key, shards), []).append({"key": key, "path": path})

    for dep in deps:
        if fan_in is None or dep not in fan_in:
            add(dep, f"upstream/{dep}")
            continue
        add(dep, f"upstream/{dep}/results.json")
        for i in fan_in[dep]:
            add(output_key(instance_name(dep, i)), f"upstream/{dep}/{i}/result")
    return grouped


def job(
    workflow: Mapping[str, Any],
    *,
    name: str,
    node: str,
    attempt: int,
    component_name: str,
    component: ComponentSpec,
    node_config: Mapping[str, Any],
    deps: Iterable[str],
    input_source: tuple[str, str],
    output_shards: int,
    staging: Staging | None = None,
    sidecar_injection: bool = False,
    summary: tuple[str, str] | None = None,
    fan_in: Mapping[str, Iterable[int]] | None = None,
    item: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job `name` of one (node, attempt). `input_source` is (ConfigMap name, key) of the input;
    with `staging` the Pod passes data through the artifact store (`k8s.staging`); `sidecar_injection` False:
    the Pod opts out of injected sidecars; `summary` (ConfigMap, key): an exit node's `workflow.json`; `fan_in`:
    the forEach dependencies and their succeeded instances; `item` (key, index): a forEach instance's item."""
    meta = workflow["metadata"]
    wf_name, namespace = meta["name"], meta["namespace"]
    config_json = node_config_json(component, node, node_config)
    labels = {
        **MANAGED_BY,
        LABEL_WORKFLOW: workflow_label(wf_name),
        LABEL_WORKFLOW_UID: str(meta["uid"]),
        LABEL_NODE: output_key(node),  # `NODE.i` for a forEach instance (a label value has no brackets)
        LABEL_ATTEMPT: str(attempt),
        LABEL_COMPONENT: naming.dns_label(component_name),
    }
    sources: list[dict[str, Any]] = [
        {
            "configMap": {
                "name": input_source[0],
                "items": [{"key": input_source[1], "path": "input"}],
                "optional": True,
            }
        },
        {
            "downwardAPI": {
                "items": [
                    {
                        "path": "config.json",
                        "fieldRef": {"fieldPath": f"metadata.annotations['{ANNOTATION_CONFIG}']"},
                    }
                ]
            }
        },
    ]
    # Upstream outputs are required: a kubelet whose ConfigMap cache lags keeps the Pod in ContainerCreating
    # (retrying the mount) rather than starting it without a file, which would compute a wrong result silently.
    grouped = _items_by_configmap(wf_name, deps, output_shards, fan_in)
    if item is not None:  # required too: written before the instance's Job (`logic.foreach`)
        grouped.setdefault(naming.output_configmap(wf_name, item[0], output_shards), []).append(
            {"key": item[0], "path": "item"}
        )
    if summary is not None:  # required as upstream outputs are: written before any exit node's Job
        grouped.setdefault(summary[0], []).append({"key": summary[1], "path": "workflow.json"})
    for cm_name, items in grouped.items():
        sources.append({"configMap": {"name": cm_name, "items": items}})
    env = [{"name": e.name, "value": e.value} for e in component.env] + [
        {"name": "SWITCHYARD_WORKFLOW", "value": wf_name},
        {"name": "SWITCHYARD_NODE", "value": node},
        {"name": "SWITCHYARD_ATTEMPT", "value": str(attempt)},
    ]
    if item is not None:
        env.append({"name": "SWITCHYARD_ITEM_INDEX", "value": str(item[1])})
    container: dict[str, Any] = {
        "name": "main",
        "image": component.image,
        "env": env,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [
            {"name": "switchyard", "mountPath": MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if component.command:
        container["command"] = list(component.command)
    if component.args:
        container["args"] = list(component.args)
    if component.resources is not None:
        container["resources"] = component.resources.to_wire()
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": component.service_account_name is not None,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "switchyard", "projected": {"sources": sources}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    if component.service_account_name is not None:
        pod_spec["serviceAccountName"] = component.service_account_name
    if staging is not None:
        pod_spec = with_staging(pod_spec, staging, node, attempt)
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        # A Pod the cluster took away (eviction, preemption, drain, node shutdown) is not the Component's
        # failure: the Job replaces it, once it is fully gone, without counting it toward backoffLimit.
        "podFailurePolicy": {
            "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
        },
        "podReplacementPolicy": "Failed",
        "template": {
            "metadata": {
                "labels": labels if sidecar_injection else {**labels, **NO_INJECTION_LABELS},
                "annotations": {
                    ANNOTATION_CONFIG: config_json,
                    ANNOTATION_WORKFLOW: wf_name,
                    **({} if sidecar_injection else NO_INJECTION_ANNOTATIONS),
                },
            },
            "spec": pod_spec,
        },
    }
    if component.timeout_seconds is not None:
        # The operator enforces timeoutSeconds from the container's start (`k8s/observer.py`); a Job's deadline
        # counts from its own start, Pending and image pulls included, so it is only a looser backstop (for
        # when the operator is away): the run's limit plus the time a Pod may take to start.
        spec["activeDeadlineSeconds"] = component.timeout_seconds + component.pending_timeout_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {ANNOTATION_WORKFLOW: wf_name},
            "ownerReferences": [owner_reference(workflow)],
        },
        "spec": spec,
    }


def configmap(workflow: Mapping[str, Any], name: str, data: Mapping[str, str], purpose: str) -> dict[str, Any]:
    meta = workflow["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {
                **MANAGED_BY,
                LABEL_WORKFLOW: workflow_label(meta["name"]),
                LABEL_PURPOSE: purpose,
            },
            "ownerReferences": [owner_reference(workflow)],
        },
        "data": dict(data),
    }
