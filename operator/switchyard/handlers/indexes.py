"""kopf indexes of what the controller reads often: kopf fills them before any other handler runs."""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.k8s.observe import component_entry, job_entry, pod_entry
from switchyard.k8s.render import LABEL_WORKFLOW
from switchyard.models.crd import GROUP, VERSION

OWNED = {LABEL_WORKFLOW: kopf.PRESENT}


@kopf.index(GROUP, VERSION, "components")
def sy_components(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): component_entry(body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
def sy_jobs(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Any, Any] | None:
    entry = job_entry(body)
    return {(namespace, name): entry} if entry else None


@kopf.index("", "v1", "pods", labels=OWNED)
def sy_pods(body: kopf.Body, namespace: str, **_: Any) -> dict[Any, Any] | None:
    entry = pod_entry(body)
    return {(namespace, entry.job): entry} if entry else None
