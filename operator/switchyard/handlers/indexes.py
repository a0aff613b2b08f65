"""kopf indexes of what the controller reads often: kopf fills them before any other handler runs.

The Job and Pod indexes are also where a runner learns of news: the moment a Job's (or its Pod's) change
lands in the index, its workflow's runner is told which Job changed and woken (`Runtime.job_changed`), so
a pass looks at that Job only. The functions are async: kopf runs a sync handler in its thread pool, a hop
per watch event that cost more than the indexing itself.
"""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.k8s.observe import component_entry, job_entry, pod_entry
from switchyard.k8s.render import ANNOTATION_WORKFLOW, LABEL_WORKFLOW
from switchyard.models.crd import GROUP, VERSION

OWNED = {LABEL_WORKFLOW: kopf.PRESENT}


@kopf.index(GROUP, VERSION, "components")
async def sy_components(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): component_entry(body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
async def sy_jobs(body: kopf.Body, namespace: str, name: str, memo: kopf.Memo, **_: Any) -> dict[Any, Any] | None:
    entry = job_entry(body)
    if entry is None:
        return None
    if hasattr(memo, "rt"):
        memo.rt.job_changed(namespace, entry.workflow, name)
    return {(namespace, name): entry}


@kopf.index("", "v1", "pods", labels=OWNED)
async def sy_pods(body: kopf.Body, namespace: str, memo: kopf.Memo, **_: Any) -> dict[Any, Any] | None:
    entry = pod_entry(body)
    if entry is None:
        return None
    workflow = body.metadata.annotations.get(ANNOTATION_WORKFLOW)
    if workflow and hasattr(memo, "rt"):
        memo.rt.job_changed(namespace, workflow, entry.job)
    return {(namespace, entry.job): entry}
