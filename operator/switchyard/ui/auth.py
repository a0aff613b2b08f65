"""In-cluster access to the UI (`switchyard ui --auth token`, the chart's `ui.enabled`): every API request carries
a Kubernetes bearer token, checked with a TokenReview, and each action is authorized for that user with a
SubjectAccessReview before the UI's service account performs it. No anonymous access.

Which Kubernetes permission each endpoint needs is `Access`; the reviews are cached for a short while per
token and permission (a revoked permission takes effect within `CACHE_SECONDS`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import kubernetes

from switchyard.models.crd import GROUP
from switchyard.ui.kube import KubeError, _error

CACHE_SECONDS = 30.0
COOKIE = "switchyard-ui-token"  # set by POST /api/login: EventSource cannot send an Authorization header


@dataclass(frozen=True)
class Access:
    """A Kubernetes permission: verb on (group, resource[/subresource]) in a namespace ("" = cluster-wide)."""

    verb: str
    resource: str
    namespace: str = ""
    group: str = GROUP
    subresource: str = ""

    def describe(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        full = f"{what}.{self.group}" if self.group else what
        where = f'in namespace "{self.namespace}"' if self.namespace else "cluster-wide"
        return f"{self.verb} {full} {where}"


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]


class Reviewer:
    """TokenReview + SubjectAccessReview through the UI's own client (its service account in a cluster)."""

    def __init__(self, api: kubernetes.client.ApiClient, ttl: float = CACHE_SECONDS) -> None:
        self.authn: Any = kubernetes.client.AuthenticationV1Api(api)
        self.authz: Any = kubernetes.client.AuthorizationV1Api(api)
        self.ttl = ttl
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, User]] = {}
        self._decisions: dict[tuple[str, Access], tuple[float, bool, str]] = {}

    def authenticate(self, token: str) -> User:
        """The token's user; KubeError 401 when the API server does not accept the token."""
        if not token:
            raise KubeError(401, "authentication required: a Kubernetes bearer token (Authorization: Bearer ...)")
        key = hashlib.sha256(token.encode()).hexdigest()  # tokens are not kept in memory as such
        with self._lock:
            cached = self._users.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        review = kubernetes.client.V1TokenReview(spec=kubernetes.client.V1TokenReviewSpec(token=token))
        try:
            status = self.authn.create_token_review(review).status
        except Exception as error:
            raise _error("token review", error) from error
        if status is None or not status.authenticated or status.user is None:
            reason = (status.error if status is not None else None) or "the token was not accepted"
            raise KubeError(401, f"authentication failed: {reason}")
        user = User(status.user.username or "", status.user.uid or "", tuple(status.user.groups or ()))
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[key] = (time.monotonic() + self.ttl, user)
        return user

    def authorize(self, token: str, access: Access) -> User:
        """The user, when they may do `access`; KubeError 401 or 403 (with the API server's reason) otherwise."""
        user = self.authenticate(token)
        key = (hashlib.sha256(token.encode()).hexdigest(), access)
        with self._lock:
            cached = self._decisions.get(key)
        if cached is not None and cached[0] > time.monotonic():
            allowed, reason = cached[1], cached[2]
        else:
            allowed, reason = self._review(user, access)
            with self._lock:
                if len(self._decisions) > 10_000:
                    self._decisions.clear()
                self._decisions[key] = (time.monotonic() + self.ttl, allowed, reason)
        if not allowed:
            why = f" ({reason})" if reason else ""
            raise KubeError(403, f'user "{user.name}" may not {access.describe()}{why}')
        return user

    def _review(self, user: User, access: Access) -> tuple[bool, str]:
        attributes = kubernetes.client.V1ResourceAttributes(
            namespace=access.namespace or None,
            verb=access.verb,
            group=access.group,
            resource=access.resource,
            subresource=access.subresource or None,
        )
        review = kubernetes.client.V1SubjectAccessReview(
            spec=kubernetes.client.V1SubjectAccessReviewSpec(
                user=user.name, uid=user.uid or None, groups=list(user.groups), resource_attributes=attributes
            )
        )
        try:
            status = self.authz.create_subject_access_review(review).status
        except Exception as error:
            raise _error("subject access review", error) from error
        if status is None:
            return False, "no answer"
        return bool(status.allowed), str(status.reason or "")
