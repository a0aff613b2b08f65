"""Who sent a request and may they start Workflows: the caller's bearer token checked with a TokenReview, and a
SubjectAccessReview asking whether that user may create workflows.switchyard.dev in the namespace (the ingest
server's authentication). Positive answers are cached for `AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubernetes import client

from switchyard.k8s.client import Api
from switchyard.models.crd import GROUP

AUTH_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class AuthResult:
    status: int  # 200 allowed, 401 unauthenticated, 403 forbidden
    message: str
    user: str = ""


class Authenticator:
    """Bearer token -> TokenReview -> SubjectAccessReview (create workflows in the namespace)."""

    def __init__(self, api: Api, ttl: float = AUTH_CACHE_SECONDS, audiences: list[str] | None = None) -> None:
        self.api = api
        self.audiences = list(audiences or [])  # empty: the API server's own (what TokenReview defaults to)
        self.authn = client.AuthenticationV1Api(api.api_client)
        self.authz = client.AuthorizationV1Api(api.api_client)
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, AuthResult]] = {}

    async def check(self, token: str, namespace: str) -> AuthResult:
        key = (token, namespace)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result = await self._review(token, namespace)
        if result.status == 200:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, result)
        return result

    async def _review(self, token: str, namespace: str) -> AuthResult:
        review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=self.audiences or None))
        answer = await self.api.call(self.authn.create_token_review, review)
        status = answer.status
        if status is None or not status.authenticated or status.user is None:
            reason = (status.error if status is not None else None) or "the token was not accepted"
            return AuthResult(401, f"authentication failed: {reason}")
        # An audience-unaware authenticator (a webhook) may accept any token: the API documents that a client
        # asking for audiences checks the answer names one of them.
        if self.audiences and not set(status.audiences or ()) & set(self.audiences):
            wanted = ", ".join(self.audiences)
            return AuthResult(401, f"authentication failed: the token is not for the audience(s) {wanted}")
        user = status.user
        access = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user.username,
                groups=user.groups,
                uid=user.uid,
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb="create", group=GROUP, resource="workflows"
                ),
            )
        )
        decision = await self.api.call(self.authz.create_subject_access_review, access)
        if decision.status is None or not decision.status.allowed:
            why = f" ({decision.status.reason})" if decision.status is not None and decision.status.reason else ""
            message = f'user "{user.username}" may not create workflows.{GROUP} in namespace "{namespace}"{why}'
            return AuthResult(403, message, user.username or "")
        return AuthResult(200, "allowed", user.username or "")
