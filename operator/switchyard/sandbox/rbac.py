"""RBAC for the emulated API server: rbac.authorization.k8s.io/v1 rules enforced for chosen identities.

Opt-in per cluster: `cluster.rbac.load(docs)` takes Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
(e.g. a Helm chart's rendered RBAC), `cluster.rbac.identify(token, user, groups)` makes requests carrying
that bearer token act as that user (a ServiceAccount: `serviceaccount(token, namespace, name)`). Requests of
other tokens are not checked (the sandbox admin stays an admin), so clusters that never identify anyone
behave as before.

Rules match as the RBAC authorizer matches them (`pkg/registry/rbac/validation` and `rbac/v1` docs): verbs,
apiGroups, resources (`res/sub` for a subresource, `*` for all, `*/sub`), resourceNames (never for create,
list or watch of a collection), nonResourceURLs (exact, or a `*` suffix); a ClusterRoleBinding grants
everywhere, a RoleBinding in its namespace only (a Role of that namespace, or a ClusterRole). What the
bootstrap roles give every authenticated user is built in: discovery and other non-resource GETs
(`system:discovery`, `system:public-info-viewer`) and self subject access/rules reviews (`system:basic-user`).
A denial is kube-apiserver's 403: `jobs.batch is forbidden: User "system:serviceaccount:ns:sa" cannot list
resource "jobs" in API group "batch" at the cluster scope`; each is kept in `denied` for tests to assert on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
}


@dataclass(frozen=True)
class Request:
    """The attributes the authorizer sees (kube-apiserver's `RequestInfo` + the user)."""

    user: str
    groups: tuple[str, ...]
    verb: str
    api_group: str = ""
    resource: str = ""  # "" for a non-resource request
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Rule:
        return cls(
            tuple(body.get("verbs") or ()),
            tuple(body.get("apiGroups") or ()),
            tuple(body.get("resources") or ()),
            tuple(body.get("resourceNames") or ()),
            tuple(body.get("nonResourceURLs") or ()),
        )

    def allows(self, request: Request) -> bool:
        if request.verb not in self.verbs and "*" not in self.verbs:
            return False
        if not request.is_resource:
            return any(
                url == request.path or (url.endswith("*") and request.path.startswith(url[:-1]))
                for url in self.non_resource_urls
            )
        if request.api_group not in self.api_groups and "*" not in self.api_groups:
            return False
        wanted = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        sub_any = f"*/{request.subresource}" if request.subresource else None
        if not any(r in ("*", wanted) or (sub_any is not None and r == sub_any) for r in self.resources):
            return False
        if self.resource_names:
            return bool(request.name) and request.name in self.resource_names
        return True


@dataclass(frozen=True)
class Binding:
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str  # Role or ClusterRole
    role_name: str
    subjects: tuple[tuple[str, str, str], ...]  # (kind, name, namespace)

    def binds(self, user: str, groups: Iterable[str]) -> bool:
        held = set(groups)
        for kind, name, namespace in self.subjects:
            if kind == "User" and name == user:
                return True
            if kind == "Group" and name in held:
                return True
            if kind == "ServiceAccount" and user == f"system:serviceaccount:{namespace or self.namespace}:{name}":
                return True
        return False


@dataclass
class Authorizer:
    """See the module docstring."""

    identities: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # token -> (user, groups)
    roles: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)  # (namespace or "", name) -> rules
    bindings: list[Binding] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # every 403 message, in order
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def identify(self, token: str, user: str, groups: Iterable[str] = ()) -> None:
        with self._lock:
            self.identities[token] = (user, (*groups, "system:authenticated"))

    def serviceaccount(self, token: str, namespace: str, name: str) -> str:
        """Requests with `token` act as this ServiceAccount; its user name."""
        user = f"system:serviceaccount:{namespace}:{name}"
        self.identify(token, user, ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"))
        return user

    def load(self, docs: Iterable[Mapping[str, Any] | None]) -> int:
        """Take the RBAC objects among `docs` (others are ignored); how many were taken."""
        taken = 0
        with self._lock:
            for doc in docs:
                if not doc or doc.get("apiVersion") != "rbac.authorization.k8s.io/v1":
                    continue
                kind, meta = doc.get("kind"), doc.get("metadata") or {}
                namespace = meta.get("namespace") or "" if kind in ("Role", "RoleBinding") else ""
                if kind in ("Role", "ClusterRole"):
                    self.roles[(namespace, meta["name"])] = [Rule.of(rule) for rule in doc.get("rules") or []]
                elif kind in ("RoleBinding", "ClusterRoleBinding"):
                    ref = doc.get("roleRef") or {}
                    subjects = tuple(
                        (s.get("kind", ""), s.get("name", ""), s.get("namespace") or "")
                        for s in doc.get("subjects") or []
                    )
                    self.bindings.append(Binding(namespace, ref.get("kind", ""), ref.get("name", ""), subjects))
                else:
                    continue
                taken += 1
        return taken

    def who(self, token: str | None) -> tuple[str, tuple[str, ...]] | None:
        """The enforced identity of a bearer token, or None (not checked)."""
        if token is None:
            return None
        with self._lock:
            return self.identities.get(token)

    def allows(self, request: Request) -> bool:
        if not request.is_resource and request.verb == "get":
            return True  # system:discovery, system:public-info-viewer: every authenticated user
        if (request.api_group, request.resource) in _SELF_REVIEWS and request.verb == "create":
            return True  # system:basic-user
        with self._lock:
            bindings = [b for b in self.bindings if b.binds(request.user, request.groups)]
            roles = dict(self.roles)
        for binding in bindings:
            if binding.namespace and binding.namespace != request.namespace:
                continue  # a RoleBinding grants in its own namespace only
            role_namespace = binding.namespace if binding.role_kind == "Role" else ""
            if any(rule.allows(request) for rule in roles.get((role_namespace, binding.role_name), [])):
                return True
        return False

    def check(self, request: Request) -> str | None:
        """None when allowed, else kube-apiserver's Forbidden message (also kept in `denied`)."""
        if self.allows(request):
            return None
        message = forbidden_message(request)
        with self._lock:
            self.denied.append(message)
        return message


def forbidden_message(request: Request) -> str:
    """`responsewriters.forbiddenMessage` + `errors.NewForbidden`, as kube-apiserver words a denial."""
    if not request.is_resource:
        return f'forbidden: User "{request.user}" cannot {request.verb} path "{request.path}"'
    resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    where = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    reason = (
        f'User "{request.user}" cannot {request.verb} resource "{resource}" in API group "{request.api_group}" {where}'
    )
    qualified = f"{request.resource}.{request.api_group}" if request.api_group else request.resource
    named = f' "{request.name}"' if request.name else ""
    return f"{qualified}{named} is forbidden: {reason}"
