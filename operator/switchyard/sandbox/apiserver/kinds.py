"""What the API server does for particular kinds, beyond the object semantics every kind shares.

One ``Kind`` per (group, plural) with its hooks, looked up by the store (``kind_of``): defaulting on create
(Namespace and Pod status, Job selector, Secret type, CRD conditions), every write's normalization (a Secret's
``stringData``), a check before a write is stored (a CRD's spec must name a resource), what storing one does
(a CRD is served) and what removing one takes with it (a Namespace's contents, a CRD's objects).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchyard.sandbox.apiserver.errors import invalid
from switchyard.sandbox.apiserver.registry import CRD_GROUP, CRD_PLURAL, ResourceType, crd_type

if TYPE_CHECKING:
    from switchyard.sandbox.apiserver.store import Store

Body = dict[str, Any]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nothing(body: Body) -> None:
    return None


def _no_effect(store: Store, body: Body) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    """The hooks of one kind; the defaults do nothing."""

    # on create, after the server's metadata is set and a subresource status dropped
    defaults: Callable[[Body], None] = _nothing
    # on every write (create and update), before schema admission
    normalize: Callable[[Body], None] = _nothing
    # before a write is stored (the ResourceType is the one written to): raises ``ApiError`` to refuse it
    check: Callable[[ResourceType, Body], None] = lambda rtype, body: None
    # after a create or an update is stored
    stored: Callable[[Store, Body], None] = _no_effect
    # after the object is gone (its DELETED event sent), before its dependents are collected
    removed: Callable[[Store, Body], None] = _no_effect
    # RBAC's RequestInfo: an object of this kind is in its own namespace (a Namespace)
    own_namespace: bool = False


def _namespace_defaults(body: Body) -> None:
    body["status"] = {"phase": "Active"}
    body["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = body["metadata"]["name"]


def _namespace_removed(store: Store, body: Body) -> None:
    """Deleting a Namespace deletes its contents at once (no ``Terminating`` phase)."""
    for other in store.registry.types():
        if other.namespaced:
            for child in store.iter(other, body["metadata"]["name"]):
                store.delete_now(other, child)


def _pod_defaults(body: Body) -> None:
    body["status"] = {"phase": "Pending"}


def _job_defaults(job: Body) -> None:
    """What the Job API's defaulting does on create (``manualSelector`` unset): the selector on the Job's uid.

    ``spec.selector.matchLabels`` = ``{batch.kubernetes.io/controller-uid: <uid>}`` and the template gets the
    controller-uid and job-name labels (both the ``batch.kubernetes.io/`` and the legacy unprefixed ones).
    """
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    meta = job["metadata"]
    uid, name = meta["uid"], meta["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        template_meta = template.setdefault("metadata", {})
        if isinstance(template_meta, dict):
            labels = template_meta.setdefault("labels", {})
            if isinstance(labels, dict):
                labels.update(
                    {
                        "batch.kubernetes.io/controller-uid": uid,
                        "batch.kubernetes.io/job-name": name,
                        "controller-uid": uid,
                        "job-name": name,
                    }
                )


def _secret_defaults(body: Body) -> None:
    if not body.get("type"):
        body["type"] = "Opaque"  # the Secret API's defaulting


def _fold_string_data(body: Body) -> None:
    """A Secret's write-only `stringData` merged into `data` (base64), over keys of the same name, as the
    Secret API does on every create and update; `stringData` itself is never stored."""
    if "stringData" not in body:
        return
    string_data = body.pop("stringData") or {}
    data = dict(body.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    body["data"] = data


def _crd_defaults(body: Body) -> None:
    now = now_rfc3339()
    spec = body.get("spec", {})
    body["status"] = {
        "acceptedNames": spec.get("names", {}),
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
        "conditions": [
            {"type": t, "status": "True", "reason": r, "message": "", "lastTransitionTime": now}
            for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))
        ],
    }


def _crd_check(rtype: ResourceType, body: Body) -> None:
    try:
        crd_type(body)
    except (KeyError, TypeError, ValueError) as e:
        raise invalid(rtype, body["metadata"].get("name"), f"spec: {e}") from e


def _crd_stored(store: Store, body: Body) -> None:
    """A CRD written: its resource is served (discovery, paths) as the spec now says."""
    store.registry.register(crd_type(body))


def _crd_removed(store: Store, body: Body) -> None:
    """A CRD deleted: its objects go with it and its resource is no longer served."""
    spec = body.get("spec", {})
    served = store.registry.get(spec.get("group", ""), spec.get("names", {}).get("plural", ""))
    if served is not None:
        for child in store.iter(served, None):
            store.remove(served, child, cascade=True)
        store.registry.unregister(served.group, served.plural)


PLAIN = Kind()
KINDS: Mapping[tuple[str, str], Kind] = {
    ("", "namespaces"): Kind(defaults=_namespace_defaults, removed=_namespace_removed, own_namespace=True),
    ("", "pods"): Kind(defaults=_pod_defaults),
    ("", "secrets"): Kind(defaults=_secret_defaults, normalize=_fold_string_data),
    ("batch", "jobs"): Kind(defaults=_job_defaults),
    (CRD_GROUP, CRD_PLURAL): Kind(defaults=_crd_defaults, check=_crd_check, stored=_crd_stored, removed=_crd_removed),
}


def kind_of(rtype: ResourceType) -> Kind:
    return KINDS.get((rtype.group, rtype.plural), PLAIN)
