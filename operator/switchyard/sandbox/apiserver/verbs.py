"""The API verbs on a resource path: get, list (paged, as a Table), create, update, patch, delete, deletecollection;
``pods/log``; TokenReview and SubjectAccessReview. Each takes the parsed request and the ``Store``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from kmock._internal import rendering

from switchyard.sandbox import patching, podlogs, protobuf, tables
from switchyard.sandbox.apiserver.errors import ApiError, invalid, not_found
from switchyard.sandbox.apiserver.registry import Address
from switchyard.sandbox.apiserver.store import Store
from switchyard.sandbox.auth import AuthTable
from switchyard.sandbox.paging import Pager, PagingError
from switchyard.sandbox.selectors import SelectorError, parse_field_selector, parse_label_selector

REVIEWS = {
    ("authentication.k8s.io", "tokenreviews"): "TokenReview",
    ("authorization.k8s.io", "subjectaccessreviews"): "SubjectAccessReview",
}


def not_allowed(method: str) -> ApiError:
    return ApiError(405, f"the server does not allow this method on the requested resource: {method}")


def body(request: rendering.Request, optional: bool = False) -> Any:
    """The request body decoded (JSON, YAML, or the protobuf of a few kinds); None when empty and ``optional``."""
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if "protobuf" in content_type:
        try:
            return protobuf.decode(request.body)
        except protobuf.ProtobufError as e:
            raise ApiError(415, f"the body of the request was in an unknown format: {content_type}: {e}") from e
    if not request.body:
        if optional:
            return None
        raise ApiError(400, "the request body is empty")
    try:
        if content_type.endswith("yaml"):
            return yaml.safe_load(request.body)
        return json.loads(request.body)
    except (ValueError, yaml.YAMLError) as e:
        raise ApiError(400, f"the body of the request could not be decoded: {e}") from e


def selectors(params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    try:
        labels = parse_label_selector(params.get("labelSelector"))
        fields = parse_field_selector(params.get("fieldSelector"))
    except SelectorError as e:
        raise ApiError(400, str(e)) from e
    return lambda body: labels(body) and fields(body)


def table(store: Store, address: Address, items: list[dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
    info = address.rtype.versions.get(address.version)
    columns = tables.printer_columns(info.printer_columns if info else None, address.rtype.plural)
    return tables.build_table(items, columns, str(store.resource_version), params.get("includeObject", "Metadata"))


def get(store: Store, address: Address, params: Mapping[str, str], accept: str) -> rendering.Response:
    assert address.name is not None
    with store.lock:
        obj = store.get(address.rtype, address.namespace, address.name)
        if obj is None:
            raise not_found(address.rtype, address.name)
        obj = store.present(obj, address.version)
    if "as=Table" in accept:
        return rendering.Response(payload=table(store, address, [obj], params))
    return rendering.Response(payload=obj)


def list_(store: Store, pager: Pager, address: Address, params: Mapping[str, str], accept: str) -> dict[str, Any]:
    matches = selectors(params)

    def current() -> tuple[list[dict[str, Any]], str]:
        with store.lock:
            objects = store.iter(address.rtype, address.namespace)
            return [store.present(obj, address.version) for obj in objects if matches(obj)], str(store.resource_version)

    scope = repr((address.rtype.qualified, address.namespace, params.get("labelSelector"), params.get("fieldSelector")))
    try:  # limit/continue (paging.py)
        page = pager.page(params, scope, current)
    except PagingError as e:
        raise ApiError(e.code, e.message, e.reason) from e
    if "as=Table" in accept:
        return {**table(store, address, page.items, params), "metadata": page.metadata}
    return {
        "kind": f"{address.rtype.kind}List",
        "apiVersion": address.rtype.api_version(address.version),
        "metadata": page.metadata,
        "items": page.items,
    }


def write(store: Store, request: rendering.Request, method: str, address: Address, dry_run: bool) -> rendering.Response:
    """POST (create), PUT (update) or PATCH."""
    if method == "POST" and address.name is None:
        new = body(request)
        with store.lock:
            obj = store.create(address.rtype, address.version, address.namespace, new, dry_run=dry_run)
        return rendering.Response(status=201, payload=obj)
    if method == "PUT" and address.name is not None:
        new = body(request)
        with store.lock:
            obj = store.update(address, lambda _old: new, dry_run=dry_run)
        return rendering.Response(payload=obj)
    if method == "PATCH" and address.name is not None:
        return patch(store, request, address, dry_run)
    raise not_allowed(method)


def patch(store: Store, request: rendering.Request, address: Address, dry_run: bool) -> rendering.Response:
    """The four patch types; server-side apply creates a missing object, else merges (every apply forced)."""
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    given = body(request)
    with store.lock:
        if content_type == "application/apply-patch+yaml":
            if store.get(address.rtype, address.namespace, address.name or "") is None:
                if not isinstance(given, dict):
                    raise ApiError(400, "the apply patch must be an object")
                given.setdefault("metadata", {})["name"] = address.name
                obj = store.create(address.rtype, address.version, address.namespace, given, dry_run=dry_run)
                return rendering.Response(status=201, payload=obj)
            change: Callable[[dict[str, Any]], Any] = lambda old: patching.merge_patch(old, given)  # noqa: E731
        elif content_type == "application/json-patch+json":

            def change(old: dict[str, Any]) -> Any:
                try:
                    return patching.json_patch(old, given)
                except patching.PatchError as e:
                    raise invalid(address.rtype, address.name, str(e)) from e

        elif content_type == "application/strategic-merge-patch+json" and address.rtype.crd_name is None:
            change = lambda old: patching.strategic_merge_patch(old, given)  # noqa: E731
        elif content_type == "application/merge-patch+json":
            change = lambda old: patching.merge_patch(old, given)  # noqa: E731
        else:
            raise ApiError(415, f"the body of the request was in an unknown format: {content_type}")
        obj = store.update(address, change, dry_run=dry_run)
    return rendering.Response(payload=obj)


def delete(
    store: Store, request: rendering.Request, address: Address, params: Mapping[str, str], dry_run: bool
) -> rendering.Response:
    """DELETE of one object, or of a collection (by selectors)."""
    if address.name is not None:
        options = body(request, optional=True) or {}
        with store.lock:
            obj = store.delete(address, options, params, dry_run=dry_run)
        return rendering.Response(payload=obj)
    matches = selectors(params)
    options = body(request, optional=True) or {}
    with store.lock:
        deleted = []
        for obj in store.iter(address.rtype, address.namespace):
            if matches(obj):
                meta = obj["metadata"]
                target = Address(address.rtype, address.version, meta.get("namespace"), meta["name"], None)
                deleted.append(store.delete(target, options, params, dry_run=dry_run))
        rv = str(store.resource_version)
    return rendering.Response(
        payload={
            "kind": f"{address.rtype.kind}List",
            "apiVersion": address.rtype.api_version(address.version),
            "metadata": {"resourceVersion": rv},
            "items": deleted,
        }
    )


def review(auth: AuthTable, method: str, parts: list[str], request: rendering.Request) -> rendering.Response | None:
    """POST tokenreviews / subjectaccessreviews (create-only, never stored), answered from ``auth``."""
    if method != "POST" or len(parts) != 4 or parts[0] != "apis" or parts[2] != "v1":
        return None
    kind = REVIEWS.get((parts[1], parts[3]))
    if kind is None:
        return None
    given = body(request)
    spec = given.get("spec") or {} if isinstance(given, dict) else {}
    status = auth.token_review(spec) if kind == "TokenReview" else auth.access_review(spec)
    answer = {"apiVersion": f"{parts[1]}/v1", "kind": kind, "metadata": {}, "spec": spec, "status": status}
    return rendering.Response(status=201, payload=answer)


def pod_log(
    store: Store,
    sources: Sequence[podlogs.LogSource],
    stopping: Callable[[], bool],
    request: rendering.Request,
    namespace: str,
    name: str,
    params: Mapping[str, str],
) -> rendering.Response:
    """``kubectl logs [-f]``: what a log source has for the container (the local runner: the real output,
    followed while it runs), else its termination message (the job simulator's output). See ``podlogs``."""
    with store.lock:
        pod = store.get(store.registry[("", "pods")], namespace, name)
        if pod is None:
            raise ApiError(404, f'pods "{name}" not found', details={"name": name, "kind": "pods"})
        pod = copy.deepcopy(pod)
    try:
        container = podlogs.choose_container(pod, params)
        podlogs.check_previous(pod, container, params)
    except podlogs.LogError as e:
        raise ApiError(e.code, e.message) from None
    log: podlogs.ContainerLog | None = None
    for source in list(sources):
        if (log := source(namespace, name, container)) is not None:
            break
    headers = {"Content-Type": "text/plain"}
    if log is None:
        text = podlogs.tail(podlogs.termination_message(pod, container), params.get("tailLines"))
        return rendering.Response(status=200, headers=headers, payload=text)
    if (waiting := log.waiting()) is not None:
        raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: {waiting}')
    data = podlogs.read_all(log)
    first = podlogs.tail(data, params.get("tailLines"))
    if params.get("follow") not in ("true", "1"):
        return rendering.Response(status=200, headers=headers, payload=first)
    raw = request._raw_request

    def closed() -> bool:
        transport = raw.transport if raw is not None else None
        return transport is None or transport.is_closing()

    stream = podlogs.follow(log, first, len(data), stopping, closed)
    return rendering.Response(status=200, headers=headers, payload=stream)
