"""An in-memory Kubernetes API server on loopback for tests and benchmarks: kmock 0.8 made closer to real.

Built on ``kmock.KubernetesEmulator`` (pinned: this module touches its internals). kmock gives the HTTP
server (``kmock.Server``), request parsing and response rendering, the object store with history
(``ApiServer.objects``), the discovery registry (``ApiServer.resources``, seeded from kmock's bundled
builtin discovery), ``/version`` and the user-defined DSL reactions for non-API paths. ``ApiServer``
overrides ``_handle`` for ``/api`` and ``/apis`` because kmock 0.8 falls short of a real API server there.
What the extension adds, each covered by ``tests/emulator/``:

- metadata: ``uid``, ``creationTimestamp``, ``generation`` (1, then +1 on any change outside
  metadata/status), ``resourceVersion`` from one global counter (a string); no-op writes keep the RV;
- errors as ``kind: Status`` with code/reason: NotFound 404, AlreadyExists 409, Conflict 409 (stale
  ``metadata.resourceVersion`` in PATCH/PUT, failed delete preconditions), Invalid 422 (failed JSON-patch
  ``test``, missing name), BadRequest 400 (bad selectors), UnsupportedMediaType 415 (protobuf bodies);
- paths: ``/api/v1/namespaces[/NAME[/status]]``; namespace taken from the URL on create; a namespaced
  create in a missing namespace is 404; core discovery says ``v1``; lists carry kind/apiVersion/RV;
- label selectors (=, ==, !=, in, notin, exists, !key) and field selectors (any dotted path);
- watches as ``application/json`` lines, resumed after ``?resourceVersion=`` without replay (410 Gone in an
  ERROR event when older than the retained window), ``timeoutSeconds``, ``sendInitialEvents`` with the
  initial-events-end bookmark, periodic bookmarks (``bookmarks.py``); objects moving in/out of a selector
  appear as ADDED/DELETED; lists in pages with ``limit``/``continue`` (``paging.py``);
- CustomResourceDefinitions: create/update/delete (un)registers the resource in discovery with
  namespaced/kind/verbs/shortNames/categories/subresources; the CRD gets Established/NamesAccepted;
  custom resources are pruned, defaulted and validated against the version's schema, CEL rules included
  (``crdschema.py``; ``schema_validation=False`` turns it off);
- ``generateName``; the status subresource (main-resource writes keep ``.status``, ``/status`` writes change
  only ``.status`` and never bump generation; status is dropped on create); PUT; server-side apply (create
  or merge); ``dryRun=All``; strategic merge patch treated as merge patch plus merge-by-name for lists of
  named dicts (see ``patching.py``);
- garbage collection: background cascade over ownerReference uids (Foreground treated as Background);
  Orphan removes the deleted owner's references from its dependents, as the real collector does before it
  lets the owner go; ``metadata.finalizers`` (DELETE sets deletionTimestamp; removing the last finalizer
  deletes); ``EmulatedCluster.garbage_collector_paused()`` holds the cascade back, as a busy collector does;
  deleting a Namespace deletes its contents, deleting a CRD deletes its objects;
- ``meta.k8s.io/v1 Table`` for ``kubectl get`` (CRD additionalPrinterColumns, else NAME + AGE);
- fault injection (``ApiServer.faults``, see ``faults.py``).

``EmulatedCluster`` runs it: ``await cluster.start()``/``stop()`` (or ``async with``) in the current loop, or
``with EmulatedCluster(...) as cluster:`` in a background thread with its own loop. Differences from a real
API server that remain are listed in ``tests/README.md``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import contextvars
import copy
import datetime
import functools
import gzip
import importlib.resources
import itertools
import json
import pathlib
import random
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp.test_utils
import aiohttp.web
import aiohttp.web_runner
import aiohttp.web_server
import attrs
import kmock
import yaml
from kmock._internal import loading, rendering

from switchyard.sandbox import admission, crdschema, openapi, patching, podlogs, protobuf, tables
from switchyard.sandbox.auth import AuthTable
from switchyard.sandbox.bookmarks import BookmarkTimer, bookmark
from switchyard.sandbox.faults import STATUS_REASONS, FaultInjector, hold_stalled
from switchyard.sandbox.paging import Pager, PagingError
from switchyard.sandbox.rbac import Authorizer
from switchyard.sandbox.rbac import Request as AuthzRequest
from switchyard.sandbox.selectors import SelectorError, parse_field_selector, parse_label_selector

T = TypeVar("T")

# The builtin resources served (group, version, plural); discovery details come from kmock's bundled list.
BUILTINS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "namespaces"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
    ("", "v1", "events"),
    ("", "v1", "pods"),
    ("", "v1", "serviceaccounts"),
    ("batch", "v1", "jobs"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ("coordination.k8s.io", "v1", "leases"),
    ("events.k8s.io", "v1", "events"),
)
CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_CRD_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


class ApiError(Exception):
    """An API failure rendered as a ``kind: Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or STATUS_REASONS.get(code, "Unknown")
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class VersionInfo:
    status_subresource: bool = False
    printer_columns: list[dict[str, Any]] | None = None
    schema: dict[str, Any] | None = None  # openAPIV3Schema of a CRD version


@functools.lru_cache(maxsize=4096)
def _resource_key(group: str, version: str, plural: str) -> kmock.resource:
    """kmock's resource reference (immutable, costly to build: one per request otherwise)."""
    return kmock.resource(group, version, plural)


@dataclass
class ResourceType:
    """One served resource (all its versions share one store, as with a single storage version)."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    storage_version: str
    versions: dict[str, VersionInfo]
    verbs: list[str] = field(default_factory=lambda: list(_CRD_VERBS))
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    other_subresources: list[str] = field(default_factory=list)
    crd_name: str | None = None

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def storage_key(self) -> kmock.resource:
        return _resource_key(self.group, self.storage_version, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def has_status(self, version: str | None = None) -> bool:
        info = self.versions.get(version or self.storage_version)
        return bool(info and info.status_subresource)


@dataclass
class Address:
    rtype: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclass
class WatchEvent:
    rv: int
    group: str
    plural: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


def _clone(data: Any) -> Any:
    """A deep copy of JSON data (stored objects are JSON): a C-speed round trip, several times copy.deepcopy's."""
    return json.loads(json.dumps(data))


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_bundled_discovery() -> dict[tuple[str, str, str], kmock.ResourceInfo]:
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    result: dict[tuple[str, str, str], kmock.ResourceInfo] = {}
    for doc in json.loads(gzip.decompress(data)):
        for resource, info in loading.parse_group_version(doc).items():
            result[(resource.group or "", resource.version or "", resource.plural or "")] = info
    return result


def _not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        f'{rtype.qualified} "{name}" not found',
        details={"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def _conflict(rtype: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rtype.qualified} "{name}": {why}',
        reason="Conflict",
        details={"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def _invalid(rtype: ResourceType, name: str | None, message: str) -> ApiError:
    return ApiError(
        422,
        f'{rtype.kind}.{rtype.group or "core"} "{name or ""}" is invalid: {message}',
        reason="Invalid",
        details={"name": name or "", "group": rtype.group, "kind": rtype.kind},
    )


# The request's ``fieldValidation`` (None: Ignore) and the warnings it collects, for ``_admit`` deep in a write.
_FIELD_VALIDATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("field_validation", default=None)
_WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("warnings", default=None)
_FIELD_VALIDATION_VALUES = ("Strict", "Warn", "Ignore")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _fold_string_data(rtype: ResourceType, body: dict[str, Any]) -> None:
    """A Secret's write-only `stringData` merged into `data` (base64), over keys of the same name, as the
    Secret API does on every create and update; `stringData` itself is never stored."""
    if rtype.group != "" or rtype.plural != "secrets" or "stringData" not in body:
        return
    string_data = body.pop("stringData") or {}
    data = dict(body.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    body["data"] = data


def _default_job_selector(job: dict[str, Any]) -> None:
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


def _spec_part(body: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that bumps generation: all but metadata, status, kind, apiVersion."""
    return {k: v for k, v in body.items() if k not in ("metadata", "status", "kind", "apiVersion")}


MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver's request body limit; aiohttp's default is 1 MiB


class _ApiServerBodies(aiohttp.test_utils.RawTestServer):
    """kmock's aiohttp test server, accepting request bodies up to `MAX_REQUEST_BYTES` as an API server does."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web_runner.ServerRunner:
        server = aiohttp.web_server.Server(self._handler, loop=self._loop, debug=debug, **kwargs)

        def request(*args: Any) -> aiohttp.web.BaseRequest:
            return aiohttp.web.BaseRequest(*args, server._loop, client_max_size=MAX_REQUEST_BYTES)

        server.request_factory = request
        return aiohttp.web_runner.ServerRunner(server, debug=debug, **kwargs)


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    """The kmock handler with Kubernetes API semantics (see the module docstring)."""

    faults: FaultInjector = attrs.field(factory=FaultInjector)
    pager: Pager = attrs.field(factory=Pager)  # snapshots of chunked lists (``paging.py``)
    auth: AuthTable = attrs.field(factory=AuthTable)  # TokenReview/SubjectAccessReview answers (``auth.py``)
    rbac: Authorizer = attrs.field(factory=Authorizer)  # RBAC for the identities it is given (``rbac.py``)
    history_window: int = 10_000  # watch events retained for resuming; older RVs get 410 Gone
    bookmark_seconds: float = 60.0  # a BOOKMARK this often on watches that allow them (``bookmarks.py``)
    schema_validation: bool = True  # prune/default/validate custom resources against their CRD schema
    versions_kept: int = 20  # past versions kept per object in ``objects[...].history`` (memory bound)
    requests_kept: int = 20_000  # requests kept in kmock's request log (``list(api)``), oldest dropped
    skipped_rules: list[str] = attrs.field(factory=list, init=False)  # CEL rules the library could not run
    managed_fields: bool = True  # record metadata.managedFields per field manager (``managedfields.py``)
    written: admission.WriteLog = attrs.field(factory=admission.WriteLog, init=False)  # bytes stored per object
    # ``kubectl logs`` sources: (namespace, pod) -> the log text, or None (then the termination messages)
    log_sources: list[podlogs.LogSource] = attrs.field(factory=list, init=False)
    # owners deleted while the collector is paused (``pause_collector``): their dependents wait for ``resume``
    collector_paused: bool = attrs.field(default=False, init=False)
    _uncollected: list[str] = attrs.field(factory=list, init=False)

    _types: dict[tuple[str, str], ResourceType] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _request_ids: Iterator[int] = attrs.field(factory=itertools.count, init=False)
    _log: collections.deque[WatchEvent] = attrs.field(init=False)
    _state_lock: threading.RLock = attrs.field(factory=threading.RLock, init=False)
    _wakeup: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _stopping: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._log = collections.deque(maxlen=self.history_window)
        bundled = _load_bundled_discovery()
        for group, version, plural in BUILTINS:
            info = bundled[(group, version, plural)]
            rtype = ResourceType(
                group=group,
                plural=plural,
                kind=info.kind or plural.capitalize(),
                namespaced=bool(info.namespaced),
                singular=info.singular or plural.rstrip("s"),
                storage_version=version,
                versions={version: VersionInfo(status_subresource="status" in info.subresources)},
                verbs=sorted(info.verbs),
                short_names=sorted(info.shortnames),
                categories=sorted(info.categories),
                other_subresources=sorted(info.subresources - {"status"}),
            )
            self._register(rtype)
        with self._state_lock:
            self._create(self._types[("", "namespaces")], "v1", None, {"metadata": {"name": "default"}})

    # -- the public, thread-safe accessors --------------------------------------------------------------

    def find_type(self, spec: str) -> ResourceType:
        """A resource by plural, plural.group, group/version/plural, v1/plural, kind or short name."""
        with self._state_lock:
            parts = spec.split("/")
            if len(parts) >= 2:
                group = "/".join(parts[:-2]) if len(parts) >= 3 else ""
                plural = parts[-1]
                if (group, plural) in self._types:
                    return self._types[(group, plural)]
            lowered = spec.lower()
            for (group, plural), rtype in self._types.items():
                names = {plural, f"{plural}.{group}", rtype.kind.lower(), rtype.singular, *rtype.short_names}
                if lowered in names:
                    if group == "events.k8s.io":
                        continue  # "events" means core v1 events, as in kubectl
                    return rtype
            raise KeyError(f"unknown resource {spec!r}")

    def get_object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A deep copy of a stored object, or None."""
        rtype = self.find_type(resource)
        with self._state_lock:
            obj = self._get(rtype, namespace if rtype.namespaced else None, name)
            return copy.deepcopy(obj)

    def list_objects(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Deep copies of the stored objects, sorted by namespace and name."""
        rtype = self.find_type(resource)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        with self._state_lock:
            return [copy.deepcopy(obj) for obj in self._iter(rtype, namespace) if labels(obj) and fields(obj)]

    @property
    def resource_version(self) -> int:
        return self._rv

    # -- kmock entry point ------------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """kmock's entry point, with our request parsing (kmock 0.8 crashes on ``/api/v1/namespaces``)."""
        await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            request = await self._parse_request(raw_request)
            if self.requests_kept > 0:
                self._requests.append(request)
            if len(self._requests) > self.requests_kept:
                del self._requests[: len(self._requests) - self.requests_kept]
            try:
                return await self._handle(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                if e.__cause__ is not None:
                    raise e.__cause__ from None
                raise
        except Exception as e:
            if not self._errors:
                raise
            self._errors[-1].append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _parse_request(self, raw_request: aiohttp.web.BaseRequest) -> rendering.Request:
        body = await raw_request.read()
        text = body.decode("utf-8", errors="replace")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        method = kmock.method(raw_request.method)
        resource = namespace = name = subresource = None
        action: kmock.action | None = None
        parts = [part for part in raw_request.path.strip("/").split("/") if part]
        try:
            address = self._address(parts)
        except ApiError:
            address = None
        if address is not None:
            resource = _resource_key(address.rtype.group, address.version, address.rtype.plural)
            namespace, name, subresource = address.namespace, address.name, address.subresource
            if method == kmock.method.GET:
                watching = raw_request.query.get("watch") in ("true", "1")
                action = kmock.action.WATCH if watching else kmock.action.LIST if name is None else kmock.action.FETCH
            elif method == kmock.method.POST:
                action = kmock.action.CREATE
            elif method in (kmock.method.PATCH, kmock.method.PUT):
                action = kmock.action.UPDATE
            elif method == kmock.method.DELETE:
                action = kmock.action.DELETE
        return rendering.Request(
            id=next(self._request_ids),  # not len(): the log is bounded, ids keep counting
            raw_request=raw_request,
            url=raw_request.url,
            method=raw_request.method,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            cookies=dict(raw_request.cookies),
            data=data,
            body=body,
            text=text,
            action=action,
            resource=resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
        )

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self._loop = asyncio.get_running_loop()
        path = request.url.path
        fault = self.faults.match(request.method.value, path)
        if fault is not None and fault.stall is not None:  # held (a black hole), then served as usual
            if not await hold_stalled(fault, request._raw_request, lambda: self._stopping):
                return aiohttp.web.Response(status=503, text="stalled")
            fault = None
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            error = ApiError(
                fault.status,
                fault.message or f"injected fault: {fault.status}",
                fault.reason,
                headers=headers,
            )
            return await self._error_response(request, error)
        if (forbidden := self._authorize(request)) is not None:
            return await self._error_response(request, forbidden)
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if request.method.value.upper() == "GET" and (path == "/openapi/v3" or path.startswith("/openapi/v3/")):
            return await self._openapi(request, path)
        if path in ("/api", "/apis") or path.startswith(("/api/", "/apis/")):
            try:
                response = await self._serve(request)
            except ApiError as e:
                return await self._error_response(request, e)
            return await response(request)
        return await kmock.RawHandler._handle(self, request)

    def _authorize(self, request: rendering.Request) -> ApiError | None:
        """403 Forbidden when the request's bearer token is an identity ``rbac`` enforces and no rule allows it."""
        scheme, _, token = str(request.headers.get("Authorization", "")).partition(" ")
        who = self.rbac.who(token.strip() if scheme.lower() == "bearer" else None)
        if who is None:
            return None
        method = request.method.value.upper()
        parts = [part for part in request.url.path.strip("/").split("/") if part]
        verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
        review = len(parts) == 4 and parts[0] == "apis" and (parts[1], parts[3]) in self.REVIEWS
        try:
            address = None if review else self._address(parts)
        except ApiError:
            address = None
        if review:
            attributes = AuthzRequest(*who, "create", api_group=parts[1], resource=parts[3])
        elif address is None:
            attributes = AuthzRequest(*who, verbs.get(method, method.lower()), path=request.url.path)
        else:
            if method == "GET":
                watching = request.params.get("watch") in ("true", "1")
                verb = "watch" if watching else "list" if address.name is None else "get"
            elif method == "DELETE":
                verb = "delete" if address.name is not None else "deletecollection"
            else:
                verb = verbs.get(method, method.lower())
            namespace = address.namespace or ""
            if address.rtype.group == "" and address.rtype.plural == "namespaces" and address.name:
                namespace = address.name  # kube-apiserver's RequestInfo: a namespace is its own namespace
            attributes = AuthzRequest(
                *who,
                verb,
                api_group=address.rtype.group,
                resource=address.rtype.plural,
                subresource=address.subresource or "",
                namespace=namespace,
                name=address.name or "",
                path=request.url.path,
            )
        message = self.rbac.check(attributes)
        if message is None:
            return None
        details = {"name": attributes.name, "group": attributes.api_group, "kind": attributes.resource}
        return ApiError(403, message, "Forbidden", details={k: v for k, v in details.items() if v})

    async def _openapi(self, request: rendering.Request, path: str) -> aiohttp.web.StreamResponse:
        with self._state_lock:
            types = list(self._types.values())
        if path == "/openapi/v3":
            return await rendering.Response(payload=openapi.index(types))(request)
        parts = [part for part in path[len("/openapi/v3/") :].split("/") if part]
        group, version = ("", parts[1]) if parts[:1] == ["api"] and len(parts) == 2 else ("", "")
        if parts[:1] == ["apis"] and len(parts) == 3:
            group, version = parts[1], parts[2]
        served = [t for t in types if t.group == group and version in t.versions]
        if not version or not served:
            return await self._error_response(
                request, ApiError(404, "the server could not find the requested resource")
            )
        return await rendering.Response(payload=openapi.document(served, group, version))(request)

    async def _error_response(self, request: rendering.Request, error: ApiError) -> aiohttp.web.StreamResponse:
        response = rendering.Response(status=error.code, headers=error.headers or None, payload=error.status())
        return await response(request)

    # -- routing --------------------------------------------------------------------------------------------

    async def _serve(self, request: rendering.Request) -> rendering.Response:
        parts = [part for part in request.url.path.strip("/").split("/") if part]
        method = request.method.value.upper()
        if method == "GET":
            discovery = self._discovery(parts)
            if discovery is not None:
                return rendering.Response(payload=discovery)
        review = self._review(method, parts, request)
        if review is not None:
            return review
        is_log = len(parts) == 7 and parts[6] == "log" and parts[2] == "namespaces" and parts[4] == "pods"
        if method == "GET" and parts[:2] == ["api", "v1"] and is_log:
            return self._pod_log(request, parts[3], parts[5], dict(request.params))
        address = self._address(parts)
        params = dict(request.params)
        dry_run = params.get("dryRun") == "All"
        accept = request.headers.get("Accept", "")
        if method in ("POST", "PUT", "PATCH"):
            directive = params.get("fieldValidation") or "Warn"  # the API server's default is Warn
            if directive not in _FIELD_VALIDATION_VALUES:
                raise ApiError(
                    400,
                    f'fieldValidation: Unsupported value: "{directive}": supported values: "Ignore", "Strict", "Warn"',
                )
            _FIELD_VALIDATION.set(None if directive == "Ignore" else directive)
            warnings: list[str] = []
            _WARNINGS.set(warnings)
            admission.set_writer(params, request.headers, request.body, address.subresource)
            response = self._write(request, method, address, params, dry_run)
            if warnings:
                headers = dict(response.headers or {})
                headers["Warning"] = ", ".join(f'299 - "{_escape(w)}"' for w in warnings)
                response = attrs.evolve(response, headers=headers)
            return response
        if method == "GET":
            if params.get("watch") in ("true", "1"):
                return self._watch(request, address, params)
            if address.name is None:
                return rendering.Response(payload=self._list(address, params, accept))
            with self._state_lock:
                obj = self._get(address.rtype, address.namespace, address.name)
                if obj is None:
                    raise _not_found(address.rtype, address.name)
                obj = self._present(obj, address.version)
            if "as=Table" in accept:
                return rendering.Response(payload=self._table(address, [obj], params))
            return rendering.Response(payload=obj)
        if method == "DELETE" and address.name is not None:
            options = self._body(request, optional=True) or {}
            with self._state_lock:
                obj = self._delete(address, options, params, dry_run=dry_run)
            return rendering.Response(payload=obj)
        if method == "DELETE":
            return self._delete_collection(request, address, params, dry_run)
        raise ApiError(405, f"the server does not allow this method on the requested resource: {method}")

    def _write(
        self, request: rendering.Request, method: str, address: Address, params: Mapping[str, str], dry_run: bool
    ) -> rendering.Response:
        if method == "POST" and address.name is None:
            body = self._body(request)
            with self._state_lock:
                obj = self._create(address.rtype, address.version, address.namespace, body, dry_run=dry_run)
            return rendering.Response(status=201, payload=obj)
        if method == "PUT" and address.name is not None:
            body = self._body(request)
            with self._state_lock:
                obj = self._update(address, lambda _old: body, dry_run=dry_run)
            return rendering.Response(payload=obj)
        if method == "PATCH" and address.name is not None:
            return self._patch(request, address, dry_run)
        raise ApiError(405, f"the server does not allow this method on the requested resource: {method}")

    def _pod_log(
        self, request: rendering.Request, namespace: str, name: str, params: Mapping[str, str]
    ) -> rendering.Response:
        """``kubectl logs [-f]``: what a ``log_sources`` callable has for the container (the local runner: the real
        output, followed while it runs), else its termination message (the job simulator's output). See
        ``podlogs``."""
        with self._state_lock:
            pod = self._get(self._types[("", "pods")], namespace, name)
            if pod is None:
                raise ApiError(404, f'pods "{name}" not found', details={"name": name, "kind": "pods"})
            pod = copy.deepcopy(pod)
        try:
            container = podlogs.choose_container(pod, params)
            podlogs.check_previous(pod, container, params)
        except podlogs.LogError as e:
            raise ApiError(e.code, e.message) from None
        log: podlogs.ContainerLog | None = None
        for source in list(self.log_sources):
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

        stream = podlogs.follow(log, first, len(data), lambda: self._stopping, closed)
        return rendering.Response(status=200, headers=headers, payload=stream)

    REVIEWS = {
        ("authentication.k8s.io", "tokenreviews"): "TokenReview",
        ("authorization.k8s.io", "subjectaccessreviews"): "SubjectAccessReview",
    }

    def _review(self, method: str, parts: list[str], request: rendering.Request) -> rendering.Response | None:
        """POST tokenreviews / subjectaccessreviews (create-only, never stored), answered from ``self.auth``."""
        if method != "POST" or len(parts) != 4 or parts[0] != "apis" or parts[2] != "v1":
            return None
        kind = self.REVIEWS.get((parts[1], parts[3]))
        if kind is None:
            return None
        body = self._body(request)
        spec = body.get("spec") or {} if isinstance(body, dict) else {}
        status = self.auth.token_review(spec) if kind == "TokenReview" else self.auth.access_review(spec)
        answer = {"apiVersion": f"{parts[1]}/v1", "kind": kind, "metadata": {}, "spec": spec, "status": status}
        return rendering.Response(status=201, payload=answer)

    def _address(self, parts: list[str]) -> Address:
        if parts and parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        namespace: str | None = None
        with self._state_lock:
            if len(rest) >= 3 and rest[0] == "namespaces":
                inner = self._types.get((group, rest[2]))
                if inner is not None and inner.namespaced and version in inner.versions:
                    namespace, rest = rest[1], rest[2:]
            rtype = self._types.get((group, rest[0]))
        if rtype is None or version not in rtype.versions or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) >= 3 else None
        if subresource is not None and subresource != "status":
            raise ApiError(404, f"the server could not find the requested resource ({subresource})")
        if subresource == "status" and not rtype.has_status(version):
            raise ApiError(404, "the server could not find the requested resource (status)")
        return Address(rtype, version, namespace if rtype.namespaced else None, name, subresource)

    def _body(self, request: rendering.Request, optional: bool = False) -> Any:
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

    # -- discovery ------------------------------------------------------------------------------------------

    def _discovery(self, parts: list[str]) -> dict[str, Any] | None:
        with self._state_lock:
            types = list(self._types.values())
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["apis"]:
            groups: dict[str, list[str]] = {}
            for rtype in types:
                if rtype.group:
                    versions = groups.setdefault(rtype.group, [])
                    for version in [rtype.storage_version, *rtype.versions]:
                        if version not in versions:
                            versions.append(version)
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [self._group_doc(group, versions) for group, versions in groups.items()],
            }
        if len(parts) == 2 and parts[0] == "apis":
            versions = []
            for rtype in types:
                if rtype.group == parts[1]:
                    versions += [v for v in [rtype.storage_version, *rtype.versions] if v not in versions]
            if not versions:
                raise ApiError(404, "the server could not find the requested resource")
            return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(parts[1], versions)}
        if (len(parts) == 2 and parts[0] == "api") or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            served = [rtype for rtype in types if rtype.group == group and version in rtype.versions]
            if not served:
                raise ApiError(404, "the server could not find the requested resource")
            resources: list[dict[str, Any]] = []
            for rtype in served:
                resources.append(
                    {
                        "name": rtype.plural,
                        "singularName": rtype.singular,
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": rtype.verbs,
                        **({"shortNames": rtype.short_names} if rtype.short_names else {}),
                        **({"categories": rtype.categories} if rtype.categories else {}),
                    }
                )
                subresources = (["status"] if rtype.has_status(version) else []) + rtype.other_subresources
                for sub in subresources:
                    resources.append(
                        {
                            "name": f"{rtype.plural}/{sub}",
                            "singularName": "",
                            "namespaced": rtype.namespaced,
                            "kind": rtype.kind,
                            "verbs": _SUBRESOURCE_VERBS,
                        }
                    )
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            }
        return None

    @staticmethod
    def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
        return {
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
        }

    def _register(self, rtype: ResourceType) -> None:
        with self._state_lock:
            old = self._types.get((rtype.group, rtype.plural))
            if old is not None:
                for version in old.versions:
                    self.resources.pop(kmock.resource(old.group, version, old.plural), None)
            self._types[(rtype.group, rtype.plural)] = rtype
            for version, info in rtype.versions.items():
                self.resources[kmock.resource(rtype.group, version, rtype.plural)] = kmock.ResourceInfo(
                    namespaced=rtype.namespaced,
                    kind=rtype.kind,
                    singular=rtype.singular,
                    verbs=set(rtype.verbs),
                    shortnames=set(rtype.short_names),
                    categories=set(rtype.categories),
                    subresources=({"status"} if info.status_subresource else set()) | set(rtype.other_subresources),
                )

    def _unregister(self, group: str, plural: str) -> None:
        rtype = self._types.pop((group, plural), None)
        if rtype is not None:
            for version in rtype.versions:
                self.resources.pop(kmock.resource(group, version, plural), None)

    @staticmethod
    def _crd_type(crd: Mapping[str, Any]) -> ResourceType:
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions: dict[str, VersionInfo] = {}
        storage = None
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            versions[version["name"]] = VersionInfo(
                status_subresource="status" in (version.get("subresources") or {}),
                printer_columns=version.get("additionalPrinterColumns"),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            )
            if version.get("storage") or storage is None:
                storage = version["name"]
        if storage is None:
            raise ValueError("a CRD needs at least one served version")
        return ResourceType(
            group=spec["group"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular") or names["kind"].lower(),
            storage_version=storage,
            versions=versions,
            short_names=list(names.get("shortNames") or []),
            categories=list(names.get("categories") or []),
            crd_name=crd.get("metadata", {}).get("name"),
        )

    # -- the store (call with _state_lock held) ---------------------------------------------------------

    def _get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (rtype.storage_key, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.raw

    def _iter(self, rtype: ResourceType, namespace: str | None) -> list[dict[str, Any]]:
        storage_key = rtype.storage_key
        found = [
            (ns or "", name, obj.raw)
            for (resource, ns, name), obj in self.objects.items()
            if resource == storage_key and not obj.deleted and (namespace is None or ns == namespace)
        ]
        return [raw for _, _, raw in sorted(found, key=lambda item: (item[0], item[1]))]

    def _store(self, rtype: ResourceType, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (rtype.storage_key, meta.get("namespace"), meta["name"])
        if key in self.objects:
            history = self.objects[key].history
            history.append(body)
            if len(history) > self.versions_kept:
                del history[: len(history) - self.versions_kept]
        else:
            self.objects[key] = body

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, rtype: ResourceType, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self._log.append(WatchEvent(rv, rtype.group, rtype.plural, event_type, obj, old))
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    def _present(self, obj: dict[str, Any], version: str) -> dict[str, Any]:
        """The stored body as served for a version (same schema: only apiVersion changes)."""
        if obj.get("apiVersion", "").rsplit("/", 1)[-1] == version:
            return obj
        result = dict(obj)
        group = obj.get("apiVersion", "").rpartition("/")[0]
        result["apiVersion"] = f"{group}/{version}" if group else version
        return result

    def _create(
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
            raise _invalid(rtype, None, "metadata: must be an object")
        if rtype.namespaced:
            body_ns = meta.get("namespace")
            if namespace is not None and body_ns and body_ns != namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            namespace = namespace or body_ns or "default"
            if self._get(self._types[("", "namespaces")], None, namespace) is None:
                raise ApiError(
                    404,
                    f'namespaces "{namespace}" not found',
                    details={"name": namespace, "kind": "namespaces"},
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise _invalid(rtype, None, "metadata.name: Required value: name or generateName is required")
            for _ in range(100):
                name = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
                if self._get(rtype, namespace if rtype.namespaced else None, name) is None:
                    break
            meta["name"] = name
        if self._get(rtype, meta.get("namespace"), name) is not None:
            raise ApiError(
                409,
                f'{rtype.qualified} "{name}" already exists',
                reason="AlreadyExists",
                details={"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        if rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
            try:
                crd_type = self._crd_type(body)
            except (KeyError, TypeError, ValueError) as e:
                raise _invalid(rtype, name, f"spec: {e}") from e
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
        self._default_status(rtype, body)
        if rtype.group == "batch" and rtype.plural == "jobs":
            _default_job_selector(body)
        if rtype.group == "" and rtype.plural == "secrets" and not body.get("type"):
            body["type"] = "Opaque"  # the Secret API's defaulting
        _fold_string_data(rtype, body)
        body = self._admit(rtype, version, body, None)
        meta = body["metadata"]
        self._check_write(rtype, version, body, None, dry_run)
        if dry_run:
            return self._present(body, version)
        meta["resourceVersion"] = str(self._next_rv())
        if rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
            self._register(crd_type)
        self._store(rtype, body)
        self._emit(rtype, "ADDED", body, None)
        return self._present(body, version)

    def _admit(
        self, rtype: ResourceType, version: str, body: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Prune, default and validate a custom resource against its CRD version's schema (422 if invalid)."""
        info = rtype.versions.get(version)
        if not self.schema_validation or rtype.crd_name is None or info is None or not info.schema:
            return body
        admission = crdschema.admit(body, info.schema, old)
        self.skipped_rules.extend(admission.skipped_rules)
        directive = _FIELD_VALIDATION.get()
        if admission.pruned and directive is not None:
            unknown = ", ".join(f'unknown field "{path}"' for path in admission.pruned)
            if directive == "Strict":
                raise ApiError(400, f"strict decoding error: {unknown}", reason="BadRequest")
            warnings = _WARNINGS.get()
            if warnings is not None:
                warnings.extend(f'unknown field "{path}"' for path in admission.pruned)
        if admission.errors:
            name = body.get("metadata", {}).get("name")
            causes = [{"reason": "FieldValueInvalid", "message": msg, "field": path} for path, msg in admission.errors]
            message = ", ".join(f"{path}: {msg}" for path, msg in admission.errors)
            error = _invalid(rtype, name, f"[{message}]" if len(causes) > 1 else message)
            error.details["causes"] = causes
            raise error
        return admission.body

    def _check_write(
        self, rtype: ResourceType, version: str, body: dict[str, Any], old: dict[str, Any] | None, dry_run: bool
    ) -> None:
        """Metadata/kind validation, managedFields, etcd's size limit (``admission.py``); counts bytes stored."""
        info = rtype.versions.get(version)
        schema, track = info.schema if info else None, self.managed_fields and not dry_run
        try:
            size = admission.check(rtype.group, rtype.plural, rtype.kind, version, body, old, schema, track, dry_run)
        except admission.Invalid as e:
            error = _invalid(rtype, body["metadata"].get("name"), str(e))
            error.details["causes"] = e.causes
            raise error from e
        except admission.Refused as e:
            raise ApiError(e.code, str(e), e.reason) from e
        if not dry_run:
            meta = body["metadata"]
            self.written.record(
                admission.object_key(rtype.group, rtype.plural, meta.get("namespace"), meta["name"]), size
            )

    @staticmethod
    def _default_status(rtype: ResourceType, body: dict[str, Any]) -> None:
        if rtype.group == "" and rtype.plural == "namespaces":
            body["status"] = {"phase": "Active"}
            body["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = body["metadata"]["name"]
        elif rtype.group == "" and rtype.plural == "pods":
            body["status"] = {"phase": "Pending"}
        elif rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
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

    def _update(
        self,
        address: Address,
        change: Callable[[dict[str, Any]], Any],
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Read-modify-write one object: ``change(old)`` returns the full new body (PUT or patched)."""
        rtype, name = address.rtype, address.name
        assert name is not None
        old = self._get(rtype, address.namespace, name)
        if old is None:
            raise _not_found(rtype, name)
        candidate = change(_clone(old))
        if not isinstance(candidate, dict):
            raise ApiError(400, "the body of the request must be an object")
        new_meta = candidate.get("metadata") if isinstance(candidate.get("metadata"), dict) else {}
        old_meta = old["metadata"]
        expected_rv = new_meta.get("resourceVersion")
        if expected_rv and str(expected_rv) != old_meta["resourceVersion"]:
            raise _conflict(
                rtype,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if new_meta.get("uid") and new_meta["uid"] != old_meta["uid"]:
            raise _conflict(rtype, name, "Precondition failed: UID in precondition does not match")
        if address.subresource == "status":
            new = _clone(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = _clone(candidate)
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
        _fold_string_data(rtype, new)
        new = self._admit(rtype, address.version, new, old)
        if _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if new == old:
            return self._present(old, address.version)  # a no-op write keeps the resourceVersion
        if rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
            try:
                crd_type = self._crd_type(new)
            except (KeyError, TypeError, ValueError) as e:
                raise _invalid(rtype, name, f"spec: {e}") from e
        self._check_write(rtype, address.version, new, old, dry_run)
        if dry_run:
            return self._present(new, address.version)
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        if rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
            self._register(crd_type)
        self._store(rtype, new)
        self._emit(rtype, "MODIFIED", new, old)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rtype, new, cascade=True)
        return self._present(new, address.version)

    def _delete(
        self,
        address: Address,
        options: Mapping[str, Any],
        params: Mapping[str, str],
        dry_run: bool = False,
    ) -> dict[str, Any]:
        rtype, name = address.rtype, address.name
        assert name is not None
        obj = self._get(rtype, address.namespace, name)
        if obj is None:
            raise _not_found(rtype, name)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
            raise _conflict(rtype, name, "Precondition failed: UID in precondition does not match")
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise _conflict(rtype, name, "Precondition failed: ResourceVersion in precondition does not match")
        if dry_run:
            return self._present(obj, address.version)
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
                self._store(rtype, new)
                self._emit(rtype, "MODIFIED", new, obj)
                obj = new
            return self._present(obj, address.version)
        removed = self._remove(rtype, obj, cascade=policy != "Orphan")
        return self._present(removed, address.version)

    def _remove(self, rtype: ResourceType, obj: dict[str, Any], cascade: bool) -> dict[str, Any]:
        """Drop an object for good (DELETED event), then its dependents, namespace contents, CRs."""
        meta = obj["metadata"]
        key = (rtype.storage_key, meta.get("namespace"), meta["name"])
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(self._next_rv())
        self.objects[key].history.append(final)
        self.objects[key].delete()
        self._emit(rtype, "DELETED", final, obj)
        if rtype.group == "" and rtype.plural == "namespaces":
            for other in list(self._types.values()):
                if other.namespaced:
                    for child in self._iter(other, meta["name"]):
                        self._delete_now(other, child)
        if rtype.group == CRD_GROUP and rtype.plural == CRD_PLURAL:
            spec = obj.get("spec", {})
            crd_type = self._types.get((spec.get("group", ""), spec.get("names", {}).get("plural", "")))
            if crd_type is not None:
                for child in self._iter(crd_type, None):
                    self._remove(crd_type, child, cascade=True)
                self._unregister(crd_type.group, crd_type.plural)
        if cascade:
            self._collect_garbage(meta["uid"])
        return final

    def _delete_now(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        address = Address(rtype, rtype.storage_version, obj["metadata"].get("namespace"), obj["metadata"]["name"], None)
        if self._get(rtype, address.namespace, obj["metadata"]["name"]) is not None:
            self._delete(address, {}, {})

    def _orphan_dependents(self, owner_uid: str) -> None:
        """propagationPolicy=Orphan: the collector drops the owner's references from its dependents (which then
        outlive it, owned by nobody else) before the owner goes."""
        for rtype in list(self._types.values()):
            for child in self._iter(rtype, None):
                owners = child["metadata"].get("ownerReferences") or []
                kept = [ref for ref in owners if ref.get("uid") != owner_uid]
                if len(kept) == len(owners):
                    continue
                new = copy.deepcopy(child)
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    new["metadata"].pop("ownerReferences", None)
                new["metadata"]["resourceVersion"] = str(self._next_rv())
                self._store(rtype, new)
                self._emit(rtype, "MODIFIED", new, child)

    def pause_collector(self) -> None:
        """Hold back the cascade of deleted owners (a real collector acts seconds later, or minutes when busy)."""
        with self._state_lock:
            self.collector_paused = True

    def resume_collector(self) -> None:
        """Collect the dependents of the owners deleted while paused, then cascade at once again."""
        with self._state_lock:
            self.collector_paused = False
            pending, self._uncollected = self._uncollected, []
            for owner_uid in pending:
                self._collect_garbage(owner_uid)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascade: delete dependents whose every owner is now gone."""
        if self.collector_paused:
            self._uncollected.append(owner_uid)
            return
        live_uids = {obj.raw["metadata"]["uid"] for obj in self.objects.values() if not obj.deleted}
        for other in list(self._types.values()):
            for child in self._iter(other, None):
                owners = child["metadata"].get("ownerReferences") or []
                uids = {ref.get("uid") for ref in owners}
                if owner_uid in uids and not (uids & live_uids):
                    self._delete_now(other, child)

    # -- verbs --------------------------------------------------------------------------------------------

    def _patch(self, request: rendering.Request, address: Address, dry_run: bool) -> rendering.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._body(request)
        with self._state_lock:
            if content_type == "application/apply-patch+yaml":
                if self._get(address.rtype, address.namespace, address.name or "") is None:
                    if not isinstance(body, dict):
                        raise ApiError(400, "the apply patch must be an object")
                    body.setdefault("metadata", {})["name"] = address.name
                    obj = self._create(address.rtype, address.version, address.namespace, body, dry_run=dry_run)
                    return rendering.Response(status=201, payload=obj)
                change: Callable[[dict[str, Any]], Any] = lambda old: patching.merge_patch(old, body)  # noqa: E731
            elif content_type == "application/json-patch+json":

                def change(old: dict[str, Any]) -> Any:
                    try:
                        return patching.json_patch(old, body)
                    except patching.PatchError as e:
                        raise _invalid(address.rtype, address.name, str(e)) from e

            elif content_type == "application/strategic-merge-patch+json" and address.rtype.crd_name is None:
                change = lambda old: patching.strategic_merge_patch(old, body)  # noqa: E731
            elif content_type == "application/merge-patch+json":
                change = lambda old: patching.merge_patch(old, body)  # noqa: E731
            else:
                raise ApiError(415, f"the body of the request was in an unknown format: {content_type}")
            obj = self._update(address, change, dry_run=dry_run)
        return rendering.Response(payload=obj)

    def _selectors(self, params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
        try:
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"))
        except SelectorError as e:
            raise ApiError(400, str(e)) from e
        return lambda body: labels(body) and fields(body)

    def _list(self, address: Address, params: Mapping[str, str], accept: str) -> dict[str, Any]:
        matches = self._selectors(params)

        def current() -> tuple[list[dict[str, Any]], str]:
            with self._state_lock:
                objects = self._iter(address.rtype, address.namespace)
                return [self._present(obj, address.version) for obj in objects if matches(obj)], str(self._rv)

        scope = repr(
            (address.rtype.qualified, address.namespace, params.get("labelSelector"), params.get("fieldSelector"))
        )
        try:  # limit/continue (paging.py)
            page = self.pager.page(params, scope, current)
        except PagingError as e:
            raise ApiError(e.code, e.message, e.reason) from e
        if "as=Table" in accept:
            return {**self._table(address, page.items, params), "metadata": page.metadata}
        return {
            "kind": f"{address.rtype.kind}List",
            "apiVersion": address.rtype.api_version(address.version),
            "metadata": page.metadata,
            "items": page.items,
        }

    def _table(self, address: Address, items: list[dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
        info = address.rtype.versions.get(address.version)
        columns = tables.printer_columns(info.printer_columns if info else None, address.rtype.plural)
        return tables.build_table(items, columns, str(self._rv), params.get("includeObject", "Metadata"))

    def _delete_collection(
        self, request: rendering.Request, address: Address, params: Mapping[str, str], dry_run: bool
    ) -> rendering.Response:
        matches = self._selectors(params)
        options = self._body(request, optional=True) or {}
        with self._state_lock:
            deleted = []
            for obj in self._iter(address.rtype, address.namespace):
                if matches(obj):
                    meta = obj["metadata"]
                    target = Address(address.rtype, address.version, meta.get("namespace"), meta["name"], None)
                    deleted.append(self._delete(target, options, params, dry_run=dry_run))
            rv = str(self._rv)
        return rendering.Response(
            payload={
                "kind": f"{address.rtype.kind}List",
                "apiVersion": address.rtype.api_version(address.version),
                "metadata": {"resourceVersion": rv},
                "items": deleted,
            }
        )

    def _watch(self, request: rendering.Request, address: Address, params: Mapping[str, str]) -> rendering.Response:
        matches = self._selectors(params)
        if address.name is not None:
            by_name = matches
            target = address.name
            matches = lambda body: body["metadata"]["name"] == target and by_name(body)  # noqa: E731
        rtype, version, namespace = address.rtype, address.version, address.namespace
        since = params.get("resourceVersion") or "0"
        send_initial = params.get("sendInitialEvents") == "true"
        bookmarks = params.get("allowWatchBookmarks") == "true"
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        if not since.isdigit():
            raise ApiError(400, f"invalid resourceVersion: {since!r}")
        with self._state_lock:
            initial: list[dict[str, Any]] = []
            gone = False
            start = int(since)
            if since == "0" or send_initial:
                start = self._rv
                initial = [
                    {"type": "ADDED", "object": self._present(obj, version)}
                    for obj in self._iter(rtype, namespace)
                    if matches(obj)
                ]
            elif len(self._log) == self._log.maxlen and self._log and start < self._log[0].rv - 1:
                gone = True

        def translate(event: WatchEvent) -> dict[str, Any] | None:
            if event.group != rtype.group or event.plural != rtype.plural:
                return None
            if namespace is not None and event.obj["metadata"].get("namespace") != namespace:
                return None
            now_in = matches(event.obj)
            was_in = event.old is not None and matches(event.old)
            event_type = event.type
            if event_type == "MODIFIED":
                if now_in and not was_in:
                    event_type = "ADDED"
                elif was_in and not now_in:
                    event_type, now_in = "DELETED", True
            if not now_in:
                return None
            return {"type": event_type, "object": self._present(event.obj, version)}

        as_table = "as=Table" in request.headers.get("Accept", "")
        first_row = [True]

        def tabled(event: dict[str, Any]) -> dict[str, Any]:
            """``kubectl get -w``: each event's object is a Table of one row; column definitions on the first."""
            if not as_table or event["type"] in ("ERROR", "BOOKMARK"):
                return event
            table = self._table(address, [event["object"]], params)
            if not first_row[0]:
                table["columnDefinitions"] = []
            first_row[0] = False
            return {"type": event["type"], "object": table}

        async def stream() -> AsyncIterator[Any]:
            yield b""  # send the headers now: clients wait for them before reading events
            if gone:
                error = ApiError(410, f"too old resource version: {start} ({self._rv})", reason="Expired")
                yield {"type": "ERROR", "object": error.status()}
                return
            for event in initial:
                yield tabled(event)
            if send_initial and bookmarks:
                yield {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": rtype.kind,
                        "apiVersion": rtype.api_version(version),
                        "metadata": {
                            "resourceVersion": str(start),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            last = start
            timer = BookmarkTimer(self.bookmark_seconds if bookmarks else None, loop.time(), deadline)
            while not self._stopping:
                wakeup = self._wakeup
                with self._state_lock:
                    fresh: list[WatchEvent] = []
                    for event in reversed(self._log):
                        if event.rv <= last:
                            break
                        fresh.append(event)
                for event in reversed(fresh):
                    last = event.rv
                    translated = translate(event)
                    if translated is not None:
                        yield tabled(translated)
                if timer.due(loop.time()):  # periodic bookmarks (bookmarks.py)
                    yield bookmark(rtype.kind, rtype.api_version(version), last)
                transport = request._raw_request.transport if request._raw_request is not None else None
                if transport is None or transport.is_closing():
                    return
                wait = 1.0 if deadline is None else min(1.0, deadline - loop.time())
                if wait <= 0:
                    return
                wait = min(wait, timer.wait(loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), timeout=wait)

        return rendering.Response(status=200, headers={"Content-Type": "application/json"}, payload=stream())

    def stop_watches(self) -> None:
        self._stopping = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)


def write_kubeconfig(
    path: str | pathlib.Path, url: str, namespace: str = "default", token: str = "emulated"
) -> pathlib.Path:
    """A kubeconfig for kubectl, the kubernetes client and kopf (plain HTTP; `token` picks the identity)."""
    path = pathlib.Path(path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulated", "cluster": {"server": url}}],
        "users": [{"name": "emulated", "user": {"token": token}}],
        "contexts": [
            {"name": "emulated", "context": {"cluster": "emulated", "user": "emulated", "namespace": namespace}}
        ],
        "current-context": "emulated",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config))
    return path


class EmulatedCluster:
    """A started ``ApiServer`` on loopback, with CRDs pre-registered; async or in a background thread.

    Async: ``async with EmulatedCluster(crd_paths=[...]) as cluster:`` (or ``await start()``/``stop()``).
    Sync: ``with EmulatedCluster(crd_paths=[...]) as cluster:`` runs the server in its own thread and loop.
    """

    def __init__(
        self,
        crd_paths: Iterable[str | pathlib.Path] = (),
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        namespaces: Iterable[str] = (),
        history_window: int = 10_000,
        schema_validation: bool = True,
        bookmark_seconds: float = 60.0,
    ) -> None:
        self.crd_paths = [pathlib.Path(path) for path in crd_paths]
        self.host = host
        self.port = port
        self.extra_namespaces = list(namespaces)
        self.api = ApiServer(
            history_window=history_window, schema_validation=schema_validation, bookmark_seconds=bookmark_seconds
        )
        self._server: kmock.Server | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @property
    def faults(self) -> FaultInjector:
        return self.api.faults

    @property
    def auth(self) -> AuthTable:
        return self.api.auth

    @property
    def rbac(self) -> Authorizer:
        return self.api.rbac

    @contextlib.contextmanager
    def garbage_collector_paused(self) -> Iterator[None]:
        """Deleted owners' dependents stay until the block ends (then are collected), as behind a busy collector."""
        self.api.pause_collector()
        try:
            yield
        finally:
            self.api.resume_collector()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulated cluster is not started")
        return str(self._server.url).rstrip("/")

    # -- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.api._loop = asyncio.get_running_loop()
        await self.api.__aenter__()
        self._server = kmock.Server(self.api, host=self.host, port=self.port, server_cls=_ApiServerBodies)
        await self._server.__aenter__()
        for path in self.crd_paths:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    self.create("apiextensions.k8s.io/v1/customresourcedefinitions", doc)
        for namespace in self.extra_namespaces:
            self.create("v1/namespaces", {"metadata": {"name": namespace}})

    async def stop(self) -> None:
        self.api.stop_watches()
        if self._server is not None:
            await self._server.__aexit__(None, None, None)
            self._server = None
        await self.api.__aexit__(None, None, None)

    async def __aenter__(self) -> EmulatedCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> EmulatedCluster:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="emulated-apiserver", daemon=True)
        self._thread.start()
        started.wait(timeout=30)
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread_loop is not None and self._thread is not None:
            self.api.stop_watches()
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(timeout=30)
            self._thread = None
            self._thread_loop = None

    # -- access for tests ---------------------------------------------------------------------------------

    def write_kubeconfig(
        self, path: str | pathlib.Path, namespace: str = "default", token: str = "emulated"
    ) -> pathlib.Path:
        """Write a kubeconfig for kubectl, the kubernetes client and kopf (`token`: see ``rbac``)."""
        return write_kubeconfig(path, self.url, namespace, token)

    def create(self, resource: str, body: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create an object directly (as if POSTed), from any thread."""
        rtype = self.api.find_type(resource)
        with self.api._state_lock:
            return copy.deepcopy(self.api._create(rtype, rtype.storage_version, namespace, copy.deepcopy(dict(body))))

    def get(self, resource: str, name: str, namespace: str | None = "default") -> dict[str, Any] | None:
        """A deep copy of one object (``resource`` as in ``ApiServer.find_type``), or None."""
        return self.api.get_object(resource, namespace, name)

    def inspect(self, resource: str, name: str, namespace: str | None, read: Callable[[dict[str, Any]], T]) -> T | None:
        """``read(stored object)`` under the store's lock, without the deep copy ``get`` makes (None if absent).

        For pollers of big objects (a 5,000-node Workflow): ``read`` must not modify or keep the object.
        """
        rtype = self.api.find_type(resource)
        with self.api._state_lock:
            obj = self.api._get(rtype, namespace if rtype.namespaced else None, name)
            return None if obj is None else read(obj)

    def objects(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Deep copies of the live objects of a resource (all namespaces unless given)."""
        return self.api.list_objects(resource, namespace, label_selector, field_selector)


def main(argv: list[str] | None = None) -> int:
    """``python -m switchyard.sandbox.apiserver``: serve the emulator in its own process until SIGTERM/SIGINT.

    Benchmarks run it apart from the job simulator and the load (one interpreter lock each). Prints the URL.
    """
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description="the emulated Kubernetes API server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--crd", action="append", default=[], help="a CRD YAML file to register (repeatable)")
    parser.add_argument("--namespace", action="append", default=[], help="a namespace to create (repeatable)")
    parser.add_argument("--requests-kept", type=int, default=0, help="kmock request log size (default 0: off)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = EmulatedCluster(args.crd, port=args.port or None, namespaces=args.namespace)
    cluster.api.requests_kept = args.requests_kept
    with cluster:
        print(cluster.url, flush=True)
        stop.wait()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
