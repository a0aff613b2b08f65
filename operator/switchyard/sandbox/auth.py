"""TokenReview and SubjectAccessReview for the emulated API server: a table of tokens and an allow-list.

Defaults keep everything working: the sandbox kubeconfig's token (`emulated`) is an admin in
`system:masters`, and `system:masters` may do everything. Tests add tokens and rules (`cluster.auth`).

Audiences as kube-apiserver checks them: each token is valid for its audiences (default: the API server's
own, `API_AUDIENCE`); a review's `spec.audiences` (default: the API server's) must share one with the token,
else the token is not authenticated; `status.audiences` is what they share.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ADMIN_TOKEN = "emulated"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # the API server's --api-audiences


@dataclass(frozen=True)
class AccessRule:
    """Allows `verb` on `group`/`resource` in `namespace` to a user or a group ("*" matches anything)."""

    user: str | None = None
    group: str | None = None
    verb: str = "*"
    api_group: str = "*"
    resource: str = "*"
    namespace: str = "*"

    def allows(self, user: str, groups: Iterable[str], attributes: Mapping[str, Any]) -> bool:
        if self.user is not None and self.user != user:
            return False
        if self.group is not None and self.group not in set(groups):
            return False
        wanted = {
            "verb": self.verb,
            "group": self.api_group,
            "resource": self.resource,
            "namespace": self.namespace,
        }
        return all(value == "*" or (attributes.get(key) or "") == value for key, value in wanted.items())


@dataclass
class AuthTable:
    tokens: dict[str, tuple[str, tuple[str, ...]]] = field(
        default_factory=lambda: {ADMIN_TOKEN: ("admin", ("system:masters", "system:authenticated"))}
    )
    audiences: dict[str, tuple[str, ...]] = field(default_factory=dict)  # token -> its audiences (absent: the API's)
    rules: list[AccessRule] = field(default_factory=lambda: [AccessRule(group="system:masters")])
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_token(
        self, token: str, user: str, groups: Iterable[str] = (), audiences: Iterable[str] = (API_AUDIENCE,)
    ) -> None:
        with self._lock:
            self.tokens[token] = (user, (*groups, "system:authenticated"))
            self.audiences[token] = tuple(audiences)

    def allow(self, **rule: Any) -> AccessRule:
        access = AccessRule(**rule)
        with self._lock:
            self.rules.append(access)
        return access

    def token_review(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        token = str(spec.get("token") or "")
        with self._lock:
            known = self.tokens.get(token)
            own = self.audiences.get(token, (API_AUDIENCE,))
        if known is None:
            return {"authenticated": False, "error": "invalid bearer token"}
        wanted = list(spec.get("audiences") or [API_AUDIENCE])
        shared = [audience for audience in wanted if audience in own]
        if not shared:  # the wording of apiserver's audience check (authenticator/audiences.go)
            error = (
                f"invalid bearer token, token audiences {_quoted(own)} is invalid for the target audiences "
                f"{_quoted(wanted)}"
            )
            return {"authenticated": False, "error": error}
        user, groups = known
        return {
            "authenticated": True,
            "user": {"username": user, "uid": f"uid-{user}", "groups": list(groups)},
            "audiences": shared,
        }

    def access_review(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        user = str(spec.get("user") or "")
        groups = list(spec.get("groups") or [])
        attributes = spec.get("resourceAttributes") or {}
        with self._lock:
            rules = list(self.rules)
        if any(rule.allows(user, groups, attributes) for rule in rules):
            return {"allowed": True, "reason": "allowed by the emulator's access table"}
        return {"allowed": False, "reason": "no rule of the emulator's access table allows it"}


def _quoted(values: Iterable[str]) -> str:
    """A Go `%q` of a []string: ["a" "b"]."""
    return "[" + " ".join(f'"{value}"' for value in values) + "]"
