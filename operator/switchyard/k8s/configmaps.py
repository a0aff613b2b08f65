"""The ConfigMaps a Workflow owns (its input and outputs): created once, written only when they are its own.

A ConfigMap name is derived from the Workflow's name, so a name can already be taken: by this Workflow (a
restart: adopt it), by a deleted Workflow of the same name whose children the garbage collector has not
removed yet (wait for it), or by anything else (never read nor written: the Workflow is Invalid).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.k8s import render
from switchyard.k8s.client import Api
from switchyard.k8s.errors import conflict, not_found
from switchyard.logic import naming
from switchyard.logic.errors import InvalidSpec


class Leftover(Exception):
    """A child of a deleted Workflow of the same name still holds the name: try again after garbage collection."""


def check_owner(kind: str, name: str, owners: list[Any], workflow: Mapping[str, Any]) -> None:
    """Return when `workflow` owns the object; raise Leftover or InvalidSpec otherwise.

    `owners` are the object's ownerReferences (client models or dicts).
    """
    meta = workflow["metadata"]

    def field(owner: Any, key: str) -> Any:
        return owner.get(key) if isinstance(owner, dict) else getattr(owner, key, None)

    if any(field(o, "uid") == meta["uid"] for o in owners):
        return
    if any(field(o, "kind") == "Workflow" and field(o, "name") == meta["name"] for o in owners):
        raise Leftover(f"{kind} '{name}' still belongs to a deleted Workflow named '{meta['name']}'")
    raise InvalidSpec(
        "NameTaken",
        f"{kind} '{name}' already exists and is not owned by this Workflow; the operator neither reads nor "
        "writes it: delete or rename it, or rename the Workflow",
    )


class OwnedConfigMaps:
    """Create, verify and write the ConfigMaps of one Workflow."""

    def __init__(self, api: Api, workflow: Mapping[str, Any]) -> None:
        self.api = api
        self.workflow = workflow
        self.namespace: str = workflow["metadata"]["namespace"]
        self.verified: set[str] = set()

    async def ensure(self, name: str, data: Mapping[str, str], purpose: str) -> bool:
        """Create `name` with `data` (True), or verify that the existing one is this Workflow's (False).

        Raises Leftover or InvalidSpec when the existing one is not.
        """
        if name in self.verified:
            return False
        body = render.configmap(self.workflow, name, data, purpose)
        try:
            await self.api.write(
                self.api.core.create_namespaced_config_map, self.namespace, body, retry_conflicts=False
            )
            created = True
        except ApiException as exc:
            if not conflict(exc):
                raise
            existing = await self.api.call(self.api.core.read_namespaced_config_map, name, self.namespace)
            check_owner(
                "ConfigMap", name, (existing.metadata and existing.metadata.owner_references) or [], self.workflow
            )
            created = False
        self.verified.add(name)
        return created

    async def write(self, name: str, data: Mapping[str, str]) -> None:
        """Add `data` to the outputs ConfigMap `name` (created, and its ownership checked, when missing)."""
        if name not in self.verified and await self.ensure(name, data, "outputs"):
            return
        try:
            await self.api.write(self.api.core.patch_namespaced_config_map, name, self.namespace, {"data": dict(data)})
        except ApiException as exc:
            if not not_found(exc):
                raise
            self.verified.discard(name)  # deleted behind our back: create it again
            if not await self.ensure(name, data, "outputs"):
                await self.write(name, data)


class HeldOutputs:
    """Node outputs not yet in their outputs ConfigMaps, written together: one patch per ConfigMap.

    The runner holds an output back until a status write (which may call the node done: the status writer
    calls `write` first) or the creation of a Job that mounts it (`read_by`). So a node's output is written
    once, not on every pass that sees a Job finish. A crash before then loses nothing: the status does not
    call those nodes done yet, so a restarted runner observes their Jobs and reads the outputs again from the
    Pods' termination messages. (Its own object, so that the status writer's reference to `write` does not
    tie the runner into a reference cycle.)"""

    def __init__(self, configmaps: OwnedConfigMaps, workflow: str) -> None:
        self.configmaps = configmaps
        self.workflow = workflow
        self.shards = 1  # outputs ConfigMaps of the run: set once its DAG is known
        self.outputs: dict[str, str] = {}

    def hold(self, outputs: Mapping[str, str]) -> None:
        self.outputs.update(outputs)

    def read_by(self, dependencies: Iterable[Iterable[str]]) -> bool:
        """Whether any of these Jobs' dependencies has an output held here."""
        return bool(self.outputs) and any(dep in self.outputs for deps in dependencies for dep in deps)

    async def write(self) -> None:
        by_cm: dict[str, dict[str, str]] = {}
        for node, output in self.outputs.items():
            by_cm.setdefault(naming.output_configmap(self.workflow, node, self.shards), {})[node] = output
        for cm, data in by_cm.items():
            await self.configmaps.write(cm, data)
            for node in data:
                del self.outputs[node]
