"""The staging containers of a node's Pod when its Workflow passes data through an artifact store.

`with_staging(pod_spec, staging)` turns the Pod of `render.job` into one whose `/switchyard` is an emptyDir
laid out by the init container `stage-in` (config, input, upstream artifacts, a forEach dependency's instances'
artifacts by one fan-in manifest each, a forEach instance's item and the bytes of the artifact it names, an
empty `outputs/`), writable
by the main container (its own copies; no nested mount), whose `outputs/` is uploaded by the native sidecar
`stage-out` (an initContainer with `restartPolicy: Always`, Kubernetes
1.29+) once the main container has exited. Both run the switchyard image under the restricted Pod Security
profile; they alone get the store's credentials (`valueFrom.secretKeyRef`: the Pod spec names the Secret,
never its values), and the Component's container gets none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchyard.artifacts.location import ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_STORE, store_env
from switchyard.artifacts.store import StoreSpec

STAGE_IN, STAGE_OUT = "stage-in", "stage-out"

READY_FILE = "/tmp/stage-out.ready"  # artifacts.stage.READY_FILE (not imported: that module sets a signal handler)

META_MOUNT = "/switchyard-meta"
# stage-out uploads after the main container exits: the Pod's grace period bounds how long that may take.
TERMINATION_GRACE_SECONDS = 3600
STAGING_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Staging:
    """What one (node, attempt) stages: where the store is, what to fetch, where to upload, the cap."""

    store: StoreSpec
    image: str
    workflow_uid: str
    prefix: str  # the attempt's key prefix (`artifacts.manifest.attempt_prefix`)
    input_key: str | None = None
    upstream: Mapping[str, str | None] = field(default_factory=dict)  # dependency -> its manifest key (None: none)
    max_node_bytes: int | None = None
    item_data: Mapping[str, object] | None = None  # a forEach instance's artifact item: key, size, digest
    fan_in: Mapping[str, str] = field(default_factory=dict)  # forEach dependency -> its fan-in manifest's key


def _env(staging: Staging) -> list[dict[str, Any]]:
    ref = staging.store.credentials_secret_ref
    return [
        {"name": ENV_STORE, "value": store_env(staging.store)},
        {"name": ENV_ACCESS_KEY, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.access_key_id_key}}},
        {
            "name": ENV_SECRET_KEY,
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.secret_access_key_key}},
        },
    ]


def _container(name: str, staging: Staging, args: list[str], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "image": staging.image,
        "command": ["python", "-m", "switchyard.artifacts.stage"],
        "args": args,
        "env": _env(staging),
        "resources": STAGING_RESOURCES,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": dict(RESTRICTED),
        "volumeMounts": [*mounts, {"name": "staging-tmp", "mountPath": "/tmp"}],  # not the Component's /tmp
    }


def stage_in_args(staging: Staging) -> list[str]:
    args = ["in", "--workflow-uid", staging.workflow_uid]
    if staging.input_key:
        args += ["--input-key", staging.input_key]
    for dep in sorted(staging.upstream):
        args += ["--upstream", f"{dep}={staging.upstream[dep] or ''}"]
    for dep in sorted(staging.fan_in):  # one argument per forEach dependency, whatever its instance count
        args += ["--fan-in", f"{dep}={staging.fan_in[dep]}"]
    if (item := staging.item_data) is not None:  # fetched to item.data, checked against its size and digest
        args += [
            "--item-data",
            str(item["key"]),
            "--item-size",
            str(item["size"]),
            "--item-digest",
            str(item["digest"]),
        ]
    return args


def stage_out_args(staging: Staging, node: str, attempt: int) -> list[str]:
    args = ["out", "--workflow-uid", staging.workflow_uid, "--node", node, "--attempt", str(attempt)]
    args += ["--prefix", staging.prefix]
    if staging.max_node_bytes is not None:
        args += ["--max-bytes", str(staging.max_node_bytes)]
    return args


def with_staging(pod_spec: dict[str, Any], staging: Staging, node: str, attempt: int) -> dict[str, Any]:
    """`pod_spec` (one `main` container, the projected volume `switchyard`) with the staging steps added."""
    volumes = [v for v in pod_spec["volumes"] if v["name"] != "switchyard"]
    projected = next(v for v in pod_spec["volumes"] if v["name"] == "switchyard")
    volumes += [
        {"name": "switchyard-meta", **{k: v for k, v in projected.items() if k != "name"}},
        {"name": "switchyard", "emptyDir": {}},
        {"name": "staging-tmp", "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    stage_in = _container(
        STAGE_IN,
        staging,
        stage_in_args(staging),
        [
            {"name": "switchyard-meta", "mountPath": META_MOUNT, "readOnly": True},
            {"name": "switchyard", "mountPath": "/switchyard"},
        ],
    )
    stage_out = _container(
        STAGE_OUT,
        staging,
        stage_out_args(staging, node, attempt),
        [{"name": "switchyard", "mountPath": "/switchyard", "readOnly": True}],
    )
    stage_out["restartPolicy"] = "Always"  # a native sidecar: SIGTERM once the main container has exited
    # The main container starts once this passes: stage-out is then listening for its SIGTERM.
    stage_out["startupProbe"] = {
        "exec": {"command": ["test", "-e", READY_FILE]},
        "periodSeconds": 1,
        "failureThreshold": 60,
    }
    main = dict(pod_spec["containers"][0])
    main["volumeMounts"] = [
        {"name": "switchyard", "mountPath": "/switchyard"},
        *[m for m in main["volumeMounts"] if m["name"] != "switchyard"],
    ]
    return {
        **pod_spec,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "initContainers": [stage_in, stage_out],
        "containers": [main],
        "volumes": volumes,
    }
