"""`logic.podrefusals`: the job controller's FailedCreate messages, as Kubernetes words them, classified."""

from __future__ import annotations

import pytest

from switchyard.logic.podrefusals import POD_CREATE_FAILED, POD_REFUSED, QUOTA_EXCEEDED, classify

# Texts as the job controller records them: "Error creating: " + the API server's error (admission plugins'
# fmt strings in kubernetes/kubernetes 1.28-1.33 and openshift/apiserver-library-go).
QUOTA = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, '
    "limited: pods=2"
)
QUOTA_CPU = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: exceeded quota: team-q, requested: limits.cpu=2,'
    "requests.cpu=1, used: limits.cpu=7,requests.cpu=4, limited: limits.cpu=8,requests.cpu=4"
)
QUOTA_UNKNOWN = 'Error creating: pods "etl-a1-xk2pq" is forbidden: status unknown for quota: compute, resources: pods'
PSA = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: violates PodSecurity "restricted:latest": '
    'allowPrivilegeEscalation != false (container "istio-proxy" must set '
    'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "istio-proxy" must '
    'set securityContext.capabilities.drop=["ALL"])'
)
LIMIT_RANGE = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: [maximum cpu usage per Container is 500m, but limit is 1, '
    "maximum memory usage per Container is 256Mi, but limit is 512Mi]"
)
LIMIT_RANGE_MIN = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: minimum cpu usage per Pod is 200m, but request is 100m'
)
FAILED_QUOTA = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: failed quota: compute: must specify limits.cpu for: main; '
    "limits.memory for: main"
)
SERVICE_ACCOUNT = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: error looking up service account t-1/reader: '
    'serviceaccount "reader" not found'
)
SCC = (
    'Error creating: pods "etl-a1-xk2pq" is forbidden: unable to validate against any security context '
    'constraint: [provider "anyuid": Forbidden: not usable by user or serviceaccount, '
    "spec.containers[0].securityContext.runAsUser: Invalid value: 1000: must be in the ranges: "
    "[1000680000, 1000689999]]"
)
WEBHOOK = (
    'Error creating: admission webhook "validation.gatekeeper.sh" denied the request: [no-latest] '
    "image tag latest is not allowed"
)
TIMEOUT = "Error creating: Timeout: request did not complete within requested timeout - context deadline exceeded"


@pytest.mark.parametrize(
    ("message", "policy"),
    [
        (QUOTA, "ResourceQuota compute"),
        (QUOTA_CPU, "ResourceQuota team-q"),
        (QUOTA_UNKNOWN, "ResourceQuota"),
        ("(combined from similar events): " + QUOTA, "ResourceQuota compute"),
    ],
)
def test_a_used_up_quota_is_transient(message: str, policy: str) -> None:
    refusal = classify(message)
    assert (refusal.kind, refusal.reason, refusal.policy, refusal.transient) == ("quota", QUOTA_EXCEEDED, policy, True)
    assert refusal.message.startswith("pods ") and "Error creating" not in refusal.message
    assert refusal.describe().startswith(f"waiting for quota ({policy}): pods ")


@pytest.mark.parametrize(
    ("message", "policy"),
    [
        (PSA, "Pod Security restricted:latest"),
        (LIMIT_RANGE, "LimitRange"),
        (LIMIT_RANGE_MIN, "LimitRange"),
        (FAILED_QUOTA, "ResourceQuota compute"),
        (SERVICE_ACCOUNT, "ServiceAccount reader"),
        (SCC, "SecurityContextConstraints"),
        (WEBHOOK, "admission webhook validation.gatekeeper.sh"),
    ],
)
def test_a_policy_denial_is_permanent_and_names_the_policy(message: str, policy: str) -> None:
    refusal = classify(message)
    assert (refusal.kind, refusal.reason, refusal.policy, refusal.transient) == ("policy", POD_REFUSED, policy, False)
    assert refusal.describe() == f"the Pod is refused by {policy}: {refusal.message}"
    assert refusal.message == message.removeprefix("Error creating: ")


def test_other_failures_are_left_to_the_job_controllers_retries() -> None:
    refusal = classify(TIMEOUT)
    assert (refusal.kind, refusal.reason, refusal.transient) == ("other", POD_CREATE_FAILED, True)
    assert refusal.message.startswith("Timeout: request did not complete")
