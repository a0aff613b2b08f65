"""The object store: objects with their history, resourceVersions, admission of writes, garbage collection.

Objects live in kmock's ``ObjectsArray`` (``ApiServer.objects``: each key's versions in ``.history``, the last
``versions_kept``); resourceVersion is one global counter; every change appends a ``WatchEvent`` to the
``EventLog``. Writes go through the kind's hooks (``kinds.py``), the CRD schema (``crdschema.py``) and the
metadata/size checks (``admission.py``). Call the methods with ``lock`` held; it is an ``RLock`` shared with the
registry.
"""

from __future__ import annotations

import contextvars
import copy
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import kmock

from switchyard.sandbox import admission, crdschema
from switchyard.sandbox.apiserver.errors import ApiError, conflict, invalid, not_found
from switchyard.sandbox.apiserver.kinds import kind_of, now_rfc3339
from switchyard.sandbox.apiserver.registry import Address, Registry, ResourceType
from switchyard.sandbox.apiserver.watch import EventLog

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# The request's ``fieldValidation`` (None: Ignore) and the warnings it collects, for ``admit`` deep in a write.
FIELD_VALIDATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("field_validation", default=None)
WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("warnings", default=None)


def clone(data: Any) -> Any:
    """A deep copy of JSON data (stored objects are JSON): a C-speed round trip, several times copy.deepcopy's."""
    return json.loads(json.dumps(data))


def _spec_part(body: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that bumps generation: all but metadata, status, kind, apiVersion."""
    return {k: v for k, v in body.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _type_key(resource: kmock.resource) -> tuple[str | None, str | None, str | None]:
    """What makes two storage keys equal (``kmock.resource.__eq__``), as a dict key."""
    return (resource.group, resource.version, resource.plural)


class Store:
    """Objects of every served type (see the module docstring)."""

    def __init__(
        self,
        objects: kmock.ObjectsArray,
        registry: Registry,
        events: EventLog,
        lock: threading.RLock,
        *,
        schema_validation: bool = True,
    ) -> None:
        self.objects = objects
        self.registry = registry
        self.events = events
        self.lock = lock
        self.schema_validation = schema_validation  # prune/default/validate custom resources (CRD schema)
        self.versions_kept = 20  # past versions kept per object in ``objects[...].history`` (memory bound)
        self.managed_fields = True  # record metadata.managedFields per field manager (``managedfields.py``)
        self.written = admission.WriteLog()  # bytes stored per object
        self.skipped_rules: list[str] = []  # CEL rules the library could not run
        # owners deleted while the collector is paused (``pause_collector``): their dependents wait for ``resume``
        self.collector_paused = False
        self._uncollected: list[str] = []
        # the collector's graph, as the real one keeps it (every delete scanned every object ever stored, the
        # deleted ones' histories included: O(objects) per delete): owner uid -> the keys of its dependents,
        # key -> the owner uids it names, uid -> the key of the live object that has it
        self._dependents: dict[str, set[Any]] = {}
        self._owners: dict[Any, frozenset[str]] = {}
        self._uids: dict[str, Any] = {}
        # (group, version, plural) -> the (namespace, name) of its live objects: a list read only its type's
        # objects (scanning every object ever stored was most of the cost of a list at thousands of Workflows)
        self._by_type: dict[tuple[str | None, str | None, str | None], set[tuple[str | None, str]]] = {}
        self._rv = 0

    @property
    def resource_version(self) -> int:
        return self._rv

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # -- reading ------------------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (rtype.storage_key, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.raw

    def iter(self, rtype: ResourceType, namespace: str | None) -> list[dict[str, Any]]:
        storage_key = rtype.storage_key
        names = self._by_type.get(_type_key(storage_key), set())
        found = []
        for ns, name in names:
            if namespace is None or ns == namespace:
                obj = self.objects[(storage_key, ns, name)]
                if not obj.deleted:
                    found.append((ns or "", name, obj.raw))
        return [raw for _, _, raw in sorted(found, key=lambda item: (item[0], item[1]))]

    @staticmethod
    def present(obj: dict[str, Any], version: str) -> dict[str, Any]:
        """The stored body as served for a version (same schema: only apiVersion changes)."""
        if obj.get("apiVersion", "").rsplit("/", 1)[-1] == version:
            return obj
        result = dict(obj)
        group = obj.get("apiVersion", "").rpartition("/")[0]
        result["apiVersion"] = f"{group}/{version}" if group else version
        return result

    def _put(self, rtype: ResourceType, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (rtype.storage_key, meta.get("namespace"), meta["name"])
        if key in self.objects:
            history = self.objects[key].history
            history.append(body)
            if len(history) > self.versions_kept:
                del history[: len(history) - self.versions_kept]
        else:
            self.objects[key] = body
        self._by_type.setdefault(_type_key(key[0]), set()).add(key[1:])
        self._index(key, meta)

    def _index(self, key: Any, meta: Mapping[str, Any]) -> None:
        """Record a stored object's uid and owners in the collector's graph."""
        if uid := meta.get("uid"):
            self._uids[uid] = key
        owners = frozenset(ref.get("uid") for ref in meta.get("ownerReferences") or [] if ref.get("uid"))
        before = self._owners.get(key, frozenset())
        if owners == before:
            return
        for uid in before - owners:
            self._drop_dependent(uid, key)
        for uid in owners - before:
            self._dependents.setdefault(uid, set()).add(key)
        if owners:
            self._owners[key] = owners
        else:
            self._owners.pop(key, None)

    def _unindex(self, key: Any, meta: Mapping[str, Any]) -> None:
        """Forget a removed object in the collector's graph (its own dependents keep their entries)."""
        if (uid := meta.get("uid")) and self._uids.get(uid) == key:
            del self._uids[uid]
        for owner in self._owners.pop(key, frozenset()):
            self._drop_dependent(owner, key)

    def _drop_dependent(self, owner: str, key: Any) -> None:
        keys = self._dependents.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._dependents[owner]

    def _dependents_of(self, owner_uid: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        """The live objects that name `owner_uid` among their owners, by type (registry order), namespace, name."""
        order = {_type_key(rtype.storage_key): (i, rtype) for i, rtype in enumerate(self.registry.types())}
        found = []
        for key in self._dependents.get(owner_uid, ()):
            obj = self.objects[key] if key in self.objects else None  # noqa: SIM401 (ObjectsArray has no get)
            if obj is None or obj.deleted or _type_key(key[0]) not in order:
                continue
            rank, rtype = order[_type_key(key[0])]
            found.append(((rank, key[1] or "", key[2]), rtype, obj.raw))
        return [(rtype, raw) for _, rtype, raw in sorted(found, key=lambda item: item[0])]

    # -- writing ------------------------------------------------------------------------------------------

    def create(
        self,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        body: Any,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request must be an object")
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise invalid(rtype, None, "metadata: must be an object")
        if rtype.namespaced:
            body_ns = meta.get("namespace")
            if namespace is not None and body_ns and body_ns != namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            namespace = namespace or body_ns or "default"
            if self.get(self.registry.namespaces, None, namespace) is None:
                raise ApiError(
                    404,
                    f'namespaces "{namespace}" not found',
                    details={"name": namespace, "kind": "namespaces"},
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        name: str = meta.get("name") or ""
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(rtype, None, "metadata.name: Required value: name or generateName is required")
            for _ in range(100):
                name = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
                if self.get(rtype, namespace if rtype.namespaced else None, name) is None:
                    break
            meta["name"] = name
        if self.get(rtype, meta.get("namespace"), name) is not None:
            raise ApiError(
                409,
                f'{rtype.qualified} "{name}" already exists',
                reason="AlreadyExists",
                details={"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        kind = kind_of(rtype)
        kind.check(rtype, body)
        body["apiVersion"] = rtype.api_version(rtype.storage_version)
        body["kind"] = rtype.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        for server_field in (
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "managedFields",
        ):
            meta.pop(server_field, None)
        if rtype.has_status():
            body.pop("status", None)
        kind.defaults(body)
        kind.normalize(body)
        body = self.admit(rtype, version, body, None)
        meta = body["metadata"]
        self._check_write(rtype, version, body, None, dry_run)
        if dry_run:
            return self.present(body, version)
        meta["resourceVersion"] = str(self._next_rv())
        kind.stored(self, body)
        self._put(rtype, body)
        self.events.emit(rtype, "ADDED", body, None)
        return self.present(body, version)

    def admit(
        self, rtype: ResourceType, version: str, body: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Prune, default and validate a custom resource against its CRD version's schema (422 if invalid)."""
        info = rtype.versions.get(version)
        if not self.schema_validation or rtype.crd_name is None or info is None or not info.schema:
            return body
        result = crdschema.admit(body, info.schema, old)
        self.skipped_rules.extend(result.skipped_rules)
        directive = FIELD_VALIDATION.get()
        if result.pruned and directive is not None:
            unknown = ", ".join(f'unknown field "{path}"' for path in result.pruned)
            if directive == "Strict":
                raise ApiError(400, f"strict decoding error: {unknown}", reason="BadRequest")
            warnings = WARNINGS.get()
            if warnings is not None:
                warnings.extend(f'unknown field "{path}"' for path in result.pruned)
        if result.errors:
            name = body.get("metadata", {}).get("name")
            causes = [{"reason": "FieldValueInvalid", "message": msg, "field": path} for path, msg in result.errors]
            message = ", ".join(f"{path}: {msg}" for path, msg in result.errors)
            error = invalid(rtype, name, f"[{message}]" if len(causes) > 1 else message)
            error.details["causes"] = causes
            raise error
        return result.body

    def _check_write(
        self, rtype: ResourceType, version: str, body: dict[str, Any], old: dict[str, Any] | None, dry_run: bool
    ) -> None:
        """Metadata/kind validation, managedFields, etcd's size limit (``admission.py``); counts bytes stored."""
        info = rtype.versions.get(version)
        schema, track = info.schema if info else None, self.managed_fields and not dry_run
        try:
            size = admission.check(rtype.group, rtype.plural, rtype.kind, version, body, old, schema, track, dry_run)
        except admission.Invalid as e:
            error = invalid(rtype, body["metadata"].get("name"), str(e))
            error.details["causes"] = e.causes
            raise error from e
        except admission.Refused as e:
            raise ApiError(e.code, str(e), e.reason) from e
        if not dry_run:
            meta = body["metadata"]
            self.written.record(
                admission.object_key(rtype.group, rtype.plural, meta.get("namespace"), meta["name"]), size
            )

    def update(
        self,
        address: Address,
        change: Callable[[dict[str, Any]], Any],
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Read-modify-write one object: ``change(old)`` returns the full new body (PUT or patched)."""
        rtype, name = address.rtype, address.name
        assert name is not None
        old = self.get(rtype, address.namespace, name)
        if old is None:
            raise not_found(rtype, name)
        candidate = change(clone(old))
        if not isinstance(candidate, dict):
            raise ApiError(400, "the body of the request must be an object")
        given_meta = candidate.get("metadata")
        new_meta: dict[str, Any] = given_meta if isinstance(given_meta, dict) else {}
        old_meta = old["metadata"]
        expected_rv = new_meta.get("resourceVersion")
        if expected_rv and str(expected_rv) != old_meta["resourceVersion"]:
            raise conflict(
                rtype,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if new_meta.get("uid") and new_meta["uid"] != old_meta["uid"]:
            raise conflict(rtype, name, "Precondition failed: UID in precondition does not match")
        if address.subresource == "status":
            new = clone(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = clone(candidate)
            meta = dict(new_meta)
            for fixed in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if fixed in old_meta:
                    meta[fixed] = old_meta[fixed]
                else:
                    meta.pop(fixed, None)
            if "deletionGracePeriodSeconds" in old_meta:
                meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
            new["metadata"] = meta
            if rtype.has_status(address.version):
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = old["kind"]
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        kind = kind_of(rtype)
        kind.normalize(new)
        new = self.admit(rtype, address.version, new, old)
        if _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if new == old:
            return self.present(old, address.version)  # a no-op write keeps the resourceVersion
        kind.check(rtype, new)
        self._check_write(rtype, address.version, new, old, dry_run)
        if dry_run:
            return self.present(new, address.version)
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        kind.stored(self, new)
        self._put(rtype, new)
        self.events.emit(rtype, "MODIFIED", new, old)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self.remove(rtype, new, cascade=True)
        return self.present(new, address.version)

    # -- deleting -----------------------------------------------------------------------------------------

    def delete(
        self,
        address: Address,
        options: Mapping[str, Any],
        params: Mapping[str, str],
        dry_run: bool = False,
    ) -> dict[str, Any]:
        rtype, name = address.rtype, address.name
        assert name is not None
        obj = self.get(rtype, address.namespace, name)
        if obj is None:
            raise not_found(rtype, name)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
            raise conflict(rtype, name, "Precondition failed: UID in precondition does not match")
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise conflict(rtype, name, "Precondition failed: ResourceVersion in precondition does not match")
        if dry_run:
            return self.present(obj, address.version)
        policy = options.get("propagationPolicy") or params.get("propagationPolicy") or "Background"
        if options.get("orphanDependents") is True or params.get("orphanDependents") == "true":
            policy = "Orphan"
        if policy == "Orphan":
            self._orphan_dependents(obj["metadata"]["uid"])
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["metadata"]["resourceVersion"] = str(self._next_rv())
                self._put(rtype, new)
                self.events.emit(rtype, "MODIFIED", new, obj)
                obj = new
            return self.present(obj, address.version)
        removed = self.remove(rtype, obj, cascade=policy != "Orphan")
        return self.present(removed, address.version)

    def remove(self, rtype: ResourceType, obj: dict[str, Any], cascade: bool) -> dict[str, Any]:
        """Drop an object for good (DELETED event), then what its kind takes with it, then its dependents."""
        meta = obj["metadata"]
        key = (rtype.storage_key, meta.get("namespace"), meta["name"])
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(self._next_rv())
        self.objects[key].history.append(final)
        self.objects[key].delete()
        self._by_type.get(_type_key(key[0]), set()).discard(key[1:])
        self._unindex(key, meta)
        self.events.emit(rtype, "DELETED", final, obj)
        kind_of(rtype).removed(self, obj)
        if cascade:
            self._collect_garbage(meta["uid"])
        return final

    def delete_now(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Delete an object as a DELETE without options would (finalizers hold it), if it is still there."""
        address = Address(rtype, rtype.storage_version, obj["metadata"].get("namespace"), obj["metadata"]["name"], None)
        if self.get(rtype, address.namespace, obj["metadata"]["name"]) is not None:
            self.delete(address, {}, {})

    # -- the garbage collector ------------------------------------------------------------------------------

    def _orphan_dependents(self, owner_uid: str) -> None:
        """propagationPolicy=Orphan: the collector drops the owner's references from its dependents (which then
        outlive it, owned by nobody else) before the owner goes."""
        for rtype, child in self._dependents_of(owner_uid):
            owners = child["metadata"].get("ownerReferences") or []
            kept = [ref for ref in owners if ref.get("uid") != owner_uid]
            new = copy.deepcopy(child)
            if kept:
                new["metadata"]["ownerReferences"] = kept
            else:
                new["metadata"].pop("ownerReferences", None)
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self._put(rtype, new)
            self.events.emit(rtype, "MODIFIED", new, child)

    def pause_collector(self) -> None:
        """Hold back the cascade of deleted owners (a real collector acts seconds later, or minutes when busy)."""
        with self.lock:
            self.collector_paused = True

    def resume_collector(self) -> None:
        """Collect the dependents of the owners deleted while paused, then cascade at once again."""
        with self.lock:
            self.collector_paused = False
            pending, self._uncollected = self._uncollected, []
            for owner_uid in pending:
                self._collect_garbage(owner_uid)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascade: delete dependents whose every owner is now gone."""
        if self.collector_paused:
            self._uncollected.append(owner_uid)
            return
        for other, child in self._dependents_of(owner_uid):
            uids = {ref.get("uid") for ref in child["metadata"].get("ownerReferences") or []}
            if not any(uid in self._uids for uid in uids):
                self.delete_now(other, child)
