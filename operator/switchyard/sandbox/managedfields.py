"""``metadata.managedFields`` as a real API server records them, for the emulator.

One entry per (manager, operation, subresource): ``apiVersion``, ``fieldsType: FieldsV1``, ``fieldsV1`` (the
set of fields that manager wrote, in the ``f:``/``k:``/``.`` encoding of structured-merge-diff), ``time``.
An Update (create, PUT, merge/JSON/strategic patch) gives its manager the fields it added or changed and
takes them from every other manager; removed fields leave every set; an Apply makes the applied fields the
manager's set. The manager is the ``fieldManager`` parameter, else the User-Agent up to its first ``/``, as
in Kubernetes (``kubectl/v1.30.0 (linux/amd64)`` -> ``kubectl``). Sending ``managedFields: [{}]`` strips them;
an empty list leaves them as they are.

A custom resource's lists follow its schema (``x-kubernetes-list-type: map`` keyed ``k:{...}``, else atomic)
and ``.`` marks its maps (``additionalProperties``, schemaless parts), through the ``is_map``/``list_keys``
callbacks. Approximations for builtins (the emulator knows no Go types): lists of objects that all have a
``name`` are keyed by it, other lists are atomic; ``labels``, ``annotations``, ``data``-like fields are maps.
No conflicts are raised for Apply (every apply is forced).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]
IsMap = Callable[[Path], bool]  # is the object at this (f:-encoded) path a map (keys are data, not fields)?
ListKeys = Callable[[Path], "tuple[str, ...] | None"]  # the keys of an associative list there; None: atomic

# what the field manager never records (its strip set, plus what only the server sets)
_STRIPPED_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_MAP_FIELDS = {"f:labels", "f:annotations", "f:data", "f:binaryData", "f:stringData", "f:nodeSelector",
               "f:matchLabels", "f:limits", "f:requests"}  # fmt: skip
MAX_MANAGER_LENGTH = 128


@dataclass(frozen=True)
class Writer:
    """Who writes: the manager, ``Update`` or ``Apply``, and the subresource (``status``) if any."""

    manager: str
    operation: str = "Update"
    subresource: str | None = None

    @classmethod
    def from_request(
        cls, params: Mapping[str, str], headers: Mapping[str, str], content_type: str, subresource: str | None
    ) -> Writer:
        manager = params.get("fieldManager") or ""
        if not manager:
            agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), "")
            manager = agent.split("/", 1)[0][:MAX_MANAGER_LENGTH]
        operation = "Apply" if content_type == "application/apply-patch+yaml" else "Update"
        return cls(manager, operation, subresource)


def default_is_map(path: Path) -> bool:
    return bool(path) and path[-1] in _MAP_FIELDS


def default_list_keys(path: Path) -> tuple[str, ...] | None:
    """Without a schema: lists of named objects are keyed by name (containers, env, volumes, ...)."""
    return ("name",)


def _item_key(item: Any, keys: tuple[str, ...] | None) -> str | None:
    if keys is None or not isinstance(item, dict) or not all(k in item for k in keys):
        return None
    return "k:" + json.dumps({k: item[k] for k in keys}, separators=(",", ":"))


def _flatten(value: Any, path: Path, out: dict[Path, Any], is_map: IsMap, list_keys: ListKeys) -> None:
    """Leaves (scalars, atomic lists, empty objects) with their values; map members and list items with None."""
    if isinstance(value, dict) and value:
        member = is_map(path)
        if member and path:
            out[path] = _Member  # a map is owned itself as well as its keys (``.``)
        for key, child in value.items():
            child_path = (*path, f"f:{key}")
            if member:
                out[child_path] = _Member
            _flatten(child, child_path, out, is_map, list_keys)
        return
    if isinstance(value, list) and value:
        keys = list_keys(path)
        item_keys = [_item_key(item, keys) for item in value]
        if all(item_keys):
            for item, key in zip(value, item_keys, strict=True):
                item_path = (*path, str(key))
                out[item_path] = _Member
                _flatten(item, item_path, out, is_map, list_keys)
            return
    if path:
        out[path] = value


class _MemberType:
    """The marker of a map member or list item (its own presence is owned, apart from its children)."""


_Member = _MemberType()


def fields_of(
    body: Mapping[str, Any], is_map: IsMap = default_is_map, list_keys: ListKeys = default_list_keys
) -> dict[Path, Any]:
    """Every field path the field manager records for `body`, with the value there."""
    trimmed = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    meta = trimmed.get("metadata")
    if isinstance(meta, dict):
        trimmed["metadata"] = {k: v for k, v in meta.items() if k not in _STRIPPED_META}
        if not trimmed["metadata"]:
            del trimmed["metadata"]
    out: dict[Path, Any] = {}
    root_is_map = is_map(())
    for key, value in trimmed.items():
        path = (f"f:{key}",)
        if root_is_map and key != "metadata":  # metadata is ObjectMeta, a struct, whatever the schema says
            out[path] = _Member
        _flatten(value, path, out, is_map, list_keys)
    return out


def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """A set of paths as FieldsV1 (``{"f:spec": {"f:size": {}}}``; ``.`` where a member has children too)."""
    tree: dict[str, Any] = {}
    members: list[dict[str, Any]] = []
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        members.append(node)
    for node in members:
        if node and "." not in node:
            node["."] = {}
    return _sorted(tree)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def decode(fields: Any, path: Path = ()) -> set[Path]:
    """FieldsV1 back to a set of paths."""
    found: set[Path] = set()
    if not isinstance(fields, dict):
        return found
    for key, child in fields.items():
        if key == ".":
            found.add(path)
        elif isinstance(child, dict) and child:
            found |= decode(child, (*path, key))
        else:
            found.add((*path, key))
    return found


def _key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(entry.get("manager", "")), str(entry.get("operation", "")), str(entry.get("subresource") or ""))


def update(
    old: Mapping[str, Any] | None,
    new: dict[str, Any],
    writer: Writer,
    api_version: str,
    now: str,
    applied: Mapping[str, Any] | None = None,
    is_map: IsMap = default_is_map,
    list_keys: ListKeys = default_list_keys,
) -> None:
    """Set ``new["metadata"]["managedFields"]`` for `writer` writing `new` over `old` (None: a create).

    `applied` is the Apply body (an Apply's own fields become the manager's set)."""
    meta = new.setdefault("metadata", {})
    sent = meta.get("managedFields")
    old_entries = list(((old or {}).get("metadata") or {}).get("managedFields") or [])
    if sent == [{}]:
        old_entries = []  # a client strips them this way
    elif isinstance(sent, list) and sent and sent != old_entries:
        old_entries = [e for e in sent if isinstance(e, dict) and e]  # taken as sent (e.g. a PUT of an edit)
    before = fields_of(old, is_map, list_keys) if old is not None else {}
    after = fields_of(new, is_map, list_keys)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    sets: dict[tuple[str, str, str], set[Path]] = {}
    entries: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in old_entries:
        key = _key(entry)
        entries[key] = dict(entry)
        sets[key] = decode(entry.get("fieldsV1")) - removed
    mine = (writer.manager, writer.operation, writer.subresource or "")
    for key in sets:
        if key != mine:
            sets[key] -= changed
    if applied is not None:
        own = set(fields_of(applied, is_map, list_keys)) & set(after)
    else:
        own = (sets.get(mine, set()) | changed) - removed
    if own or mine in sets:
        sets[mine] = own
        entry = {"manager": writer.manager, "operation": writer.operation, "apiVersion": api_version, "time": now}
        if writer.subresource:
            entry["subresource"] = writer.subresource
        entries[mine] = entry
    result = []
    for key, entry in entries.items():
        if not sets.get(key):
            continue
        entry = {**entry, "fieldsType": "FieldsV1", "fieldsV1": encode(sets[key])}
        result.append(entry)
    result.sort(key=lambda e: (e.get("operation", ""), e.get("time", ""), e.get("manager", "")))
    if result:
        meta["managedFields"] = [_ordered(e) for e in result]
    else:
        meta.pop("managedFields", None)


def _ordered(entry: Mapping[str, Any]) -> dict[str, Any]:
    order = ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource")
    return {k: entry[k] for k in order if k in entry}
