"""What the kubelet and the job controller decide about one Pod, as pure functions the job simulator uses.

Termination messages (the kubelet keeps the *last* bytes of the file, falls back to the log's tail), sidecar
injection by a mutating webhook (and the opt-outs that stop it), a Job's ``podFailurePolicy`` applied to a
failed Pod, and the fields an API server and kubelet add to a Pod (defaults, status) so bodies are as large
as on a real cluster. Sources: kubelet ``kuberuntime_container.go`` (``getTerminationMessage``,
``readLastStringFromContainerLogs``), job controller ``pod_failure_policy.go``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_CONTAINER_MESSAGE_BYTES = 4096  # kubecontainer.MaxContainerTerminationMessageLength
MAX_POD_MESSAGE_BYTES = 12 * 1024  # kubecontainer.MaxPodTerminationMessageLogLength: shared by all containers
MAX_LOG_MESSAGE_BYTES = 2048  # kubecontainer.MaxContainerTerminationMessageLogLength
MAX_LOG_MESSAGE_LINES = 80  # kubecontainer.MaxContainerTerminationMessageLogLines
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
SIDECAR_NAME = "istio-proxy"
# Pod template annotations/labels that stop the mesh and secret injectors adding a container. The emulated
# injectors' own copy, kept apart from the operator's (`models.labels.NO_INJECTION_*`) on purpose: a key the
# operator misspells then fails a test instead of agreeing with itself.
SIDECAR_OPT_OUTS: Mapping[str, str] = {
    "sidecar.istio.io/inject": "false",
    "linkerd.io/inject": "disabled",
    "vault.hashicorp.com/agent-inject": "false",
}


def message_budget(containers: int) -> int:
    """Bytes of termination message each container may keep: 4 KiB, less when many share the Pod's 12 KiB."""
    return min(MAX_CONTAINER_MESSAGE_BYTES, MAX_POD_MESSAGE_BYTES // max(1, containers))


def tail_bytes(data: bytes, limit: int) -> bytes:
    """The last ``limit`` bytes (``tail.ReadAtMost``: a cut may split a UTF-8 character, decoded as U+FFFD)."""
    return data[-limit:] if len(data) > limit else data


def log_tail(log: bytes) -> bytes:
    """The last 80 lines of a log, at most its last 2048 bytes (``FallbackToLogsOnError``)."""
    lines = log.splitlines(keepends=True)[-MAX_LOG_MESSAGE_LINES:]
    return tail_bytes(b"".join(lines), MAX_LOG_MESSAGE_BYTES)


def termination_message(file: bytes, log: bytes, *, policy: str | None, exit_code: int, containers: int = 1) -> str:
    """The ``state.terminated.message`` the kubelet reports for a container that wrote ``file`` and ``log``."""
    message = tail_bytes(file, message_budget(containers))
    if not message and policy == "FallbackToLogsOnError" and exit_code != 0:
        message = tail_bytes(log_tail(log), message_budget(containers))
    return message.decode(errors="replace")


def opted_out_of_injection(template_meta: Mapping[str, Any]) -> bool:
    """Whether a Pod template says no to sidecar injection (annotation or label, as the injectors read it)."""
    for where in ("annotations", "labels"):
        values = template_meta.get(where) or {}
        if any(values.get(key) == value for key, value in SIDECAR_OPT_OUTS.items()):
            return True
    return False


def sidecar_container() -> dict[str, Any]:
    """An injected mesh proxy: a second container that keeps running after the main one exits."""
    return {
        "name": SIDECAR_NAME,
        "image": "docker.io/istio/proxyv2:1.22.0",
        "args": ["proxy", "sidecar"],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


# -- the job controller's podFailurePolicy ----------------------------------------------------------------


def _exit_codes_match(requirement: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]]) -> bool:
    values = set(requirement.get("values") or [])
    container = requirement.get("containerName")
    for status in statuses:
        if container and status.get("name") != container:
            continue
        terminated = (status.get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if code is None or code == 0:
            continue  # podFailurePolicy looks at containers that failed only
        if (code in values) == (requirement.get("operator") == "In"):
            return True
    return False


def _conditions_match(patterns: Sequence[Mapping[str, Any]], conditions: Sequence[Mapping[str, Any]]) -> bool:
    for pattern in patterns:
        wanted = pattern.get("status", "True")
        if any(c.get("type") == pattern.get("type") and c.get("status") == wanted for c in conditions):
            return True
    return False


def pod_failure_action(policy: Mapping[str, Any] | None, pod_status: Mapping[str, Any]) -> tuple[str, int | None]:
    """(action, rule index) for a failed Pod: the first matching rule's FailJob/FailIndex/Ignore/Count, else
    ("Count", None), i.e. the failure counts toward ``backoffLimit`` as without a policy."""
    statuses = pod_status.get("containerStatuses") or []
    conditions = pod_status.get("conditions") or []
    for index, rule in enumerate((policy or {}).get("rules") or []):
        exit_codes = rule.get("onExitCodes")
        on_conditions = rule.get("onPodConditions")
        if exit_codes and _exit_codes_match(exit_codes, statuses):
            return str(rule.get("action")), index
        if on_conditions and _conditions_match(on_conditions, conditions):
            return str(rule.get("action")), index
    return "Count", None


# -- what the API server and kubelet add to a Pod -----------------------------------------------------------


def pod_spec_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod spec as stored: the template's, with the defaults kube-apiserver and admission add."""
    tolerations = [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        for taint in ("not-ready", "unreachable")
    ]
    containers = [
        {"imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File", **container}
        for container in spec.get("containers") or []
    ]
    return {
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "serviceAccount": spec.get("serviceAccountName", "default"),
        "terminationGracePeriodSeconds": 30,
        "tolerations": tolerations,
        **spec,
        "containers": containers,
        "nodeName": "sim",
    }


def pod_conditions(
    now: str, *, scheduled: bool, initialized: bool, ready: bool, reason: str = ""
) -> list[dict[str, Any]]:
    """The five conditions a kubelet keeps on a Pod (1.29+ ``PodReadyToStartContainers`` included)."""

    def condition(type_: str, true: bool, why: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"type": type_, "status": "True" if true else "False", "lastTransitionTime": now}
        if why and not true:
            body["reason"] = why
        return body

    return [
        condition("PodReadyToStartContainers", initialized),
        condition("Initialized", scheduled),
        condition("Ready", ready, reason or "ContainersNotReady"),
        condition("ContainersReady", ready, reason or "ContainersNotReady"),
        condition("PodScheduled", scheduled),
    ]
