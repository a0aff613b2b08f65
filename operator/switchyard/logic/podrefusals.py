"""Why a Job has no Pod: the job controller's `FailedCreate` Event messages, classified (pure).

An admitted Job whose Pods admission refuses says so only in Warning Events on the Job (reason
`FailedCreate`, message `Error creating: <the API server's error>`), repeated with the controller's backoff.
Two kinds matter to a node:

- transient: a ResourceQuota is used up (`exceeded quota: ...`), or the quota could not be checked just now.
  Pods are created once other work frees the quota: the node waits (reason `QuotaExceeded`), no attempt or
  breaker charge;
- a policy: Pod Security, a LimitRange, a quota that requires limits, a missing ServiceAccount, an
  OpenShift SecurityContextConstraint, an admission webhook. The same Pod is refused every time: the node
  fails at once (reason `PodRefused`) with the policy named, never charged to the Component's breaker.

Anything else (an API timeout, a conflict) is taken as transient: the job controller keeps trying.
The patterns are the messages' fixed parts in the Kubernetes sources (1.28-1.33): resourcequota
`controller.go`, limitranger `admission.go`, pod-security-admission `api/helpers` (`violates PodSecurity`),
serviceaccount `admission.go`, OpenShift `sccadmission`, the webhook dispatcher (`admission webhook ... denied`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FAILED_CREATE = "FailedCreate"  # the job controller's Event reason (pkg/controller/controller_utils.go)
QUOTA_EXCEEDED = "QuotaExceeded"  # the node's reason while it waits for quota
POD_REFUSED = "PodRefused"  # the node's reason for a policy denial
POD_CREATE_FAILED = "PodCreateFailed"  # anything else the controller keeps retrying

Kind = Literal["quota", "policy", "other"]

_PREFIXES = ("(combined from similar events): ", "Error creating: ")  # the event correlator's, the controller's
_FORBIDDEN = re.compile(r'^pods "[^"]*" is forbidden: ')
_QUOTA_NAME = re.compile(r"exceeded quota: ([^,]+)")
_PSA_LEVEL = re.compile(r'violates PodSecurity "([^"]+)"')
_WEBHOOK = re.compile(r'admission webhook "([^"]+)" denied the request')
_SERVICE_ACCOUNT = re.compile(r'serviceaccount "([^"]+)" not found')
_FAILED_QUOTA = re.compile(r"failed quota: ([^:]+): must specify")

# (pattern, the policy as the node names it); the first match wins
_POLICIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_PSA_LEVEL, "Pod Security"),
    (_SERVICE_ACCOUNT, "ServiceAccount"),
    (re.compile(r"error looking up service account"), "ServiceAccount"),
    (_FAILED_QUOTA, "ResourceQuota"),
    (re.compile(r"(maximum|minimum) \S+ usage per (Container|Pod|PersistentVolumeClaim) is"), "LimitRange"),
    (re.compile(r"max limit to request ratio per"), "LimitRange"),
    (re.compile(r"unable to validate against any security context constraint"), "SecurityContextConstraints"),
    (_WEBHOOK, "admission webhook"),
    (re.compile(r"is forbidden: violates "), "admission policy"),  # e.g. ValidatingAdmissionPolicy wording
    (re.compile(r"ValidatingAdmissionPolicy '[^']+' with binding '[^']+' denied request"), "ValidatingAdmissionPolicy"),
)
_TRANSIENT_QUOTA = (re.compile(r"exceeded quota: "), re.compile(r"status unknown for quota: "))


@dataclass(frozen=True)
class PodRefusal:
    """One classified `FailedCreate` message."""

    kind: Kind
    reason: str  # the node's reason: QuotaExceeded, PodRefused or PodCreateFailed
    policy: str  # what refused it: "ResourceQuota q", "Pod Security restricted:latest", ... ("" when unknown)
    message: str  # the API server's error, without the controller's and the correlator's prefixes

    @property
    def transient(self) -> bool:
        return self.kind != "policy"

    def describe(self) -> str:
        """The node's message: the policy first, then the API server's own words."""
        if self.kind == "quota":
            return f"waiting for quota ({self.policy}): {self.message}"
        if self.kind == "policy":
            return f"the Pod is refused by {self.policy}: {self.message}"
        return f"the job controller cannot create the Pod: {self.message}"


def strip_prefixes(message: str) -> str:
    text = message.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def classify(message: str) -> PodRefusal:
    """Classify a `FailedCreate` Event message (see the module doc)."""
    text = strip_prefixes(message)
    for pattern, policy in _POLICIES:
        if match := pattern.search(text):
            named = match.group(1) if match.groups() and pattern in _NAMED else ""
            return PodRefusal("policy", POD_REFUSED, f"{policy} {named}".strip(), text)
    for pattern in _TRANSIENT_QUOTA:
        if pattern.search(text):
            quota = _QUOTA_NAME.search(text)
            return PodRefusal(
                "quota", QUOTA_EXCEEDED, f"ResourceQuota {quota.group(1)}" if quota else "ResourceQuota", text
            )
    return PodRefusal("other", POD_CREATE_FAILED, "", text)


_NAMED = frozenset({_PSA_LEVEL, _SERVICE_ACCOUNT, _FAILED_QUOTA, _WEBHOOK})
