"""A deleted Job wakes its workflow's runner (changes and additions do so from the index, `indexes.py`).

kopf does not call index functions for deletions (it drops the object from its indexes), so this handler
takes only DELETED events; the filter is evaluated inline, before any handler machinery runs.
"""

from __future__ import annotations

from typing import Any

import kopf

from switchyard.handlers.indexes import OWNED
from switchyard.k8s.render import ANNOTATION_WORKFLOW


def deleted(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event("batch", "v1", "jobs", labels=OWNED, when=deleted)
async def job_deleted(body: kopf.Body, namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    workflow = body.metadata.annotations.get(ANNOTATION_WORKFLOW)
    if workflow and hasattr(memo, "rt"):
        memo.rt.job_changed(namespace, workflow, name)
