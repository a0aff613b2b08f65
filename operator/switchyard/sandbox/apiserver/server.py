"""The HTTP side of the emulated API server: kmock's handler with Kubernetes API routing.

``ApiServer`` parses each request (kmock 0.8 crashes on ``/api/v1/namespaces``), applies injected faults and
RBAC, serves health, OpenAPI, discovery, reviews, ``pods/log``, watches and the verbs (``verbs.py``) over its
``Store``, and leaves other paths to kmock's DSL reactions.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import aiohttp.web_runner
import aiohttp.web_server
import attrs
import kmock
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from kmock._internal import rendering

from switchyard.sandbox import admission, podlogs
from switchyard.sandbox.apiserver import discovery, verbs, watch
from switchyard.sandbox.apiserver.errors import ApiError
from switchyard.sandbox.apiserver.kinds import kind_of
from switchyard.sandbox.apiserver.registry import Address, Registry, ResourceType, builtin_types, resource_key
from switchyard.sandbox.apiserver.store import FIELD_VALIDATION, WARNINGS, Store
from switchyard.sandbox.auth import AuthTable
from switchyard.sandbox.faults import FaultInjector, hold_stalled
from switchyard.sandbox.paging import Pager
from switchyard.sandbox.rbac import Authorizer
from switchyard.sandbox.rbac import Request as AuthzRequest
from switchyard.sandbox.selectors import parse_field_selector, parse_label_selector

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver's request body limit; aiohttp's default is 1 MiB
_FIELD_VALIDATION_VALUES = ("Strict", "Warn", "Ignore")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _parts(path: str) -> list[str]:
    return [part for part in path.strip("/").split("/") if part]


class ApiServerBodies(aiohttp.test_utils.RawTestServer):
    """kmock's aiohttp test server, accepting request bodies up to `MAX_REQUEST_BYTES` as an API server does."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web_runner.ServerRunner:
        server = aiohttp.web_server.Server(self._handler, loop=self._loop, debug=debug, **kwargs)

        def request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> aiohttp.web.BaseRequest:
            return aiohttp.web.BaseRequest(
                message, payload, protocol, writer, task, server._loop, client_max_size=MAX_REQUEST_BYTES
            )

        server.request_factory = request
        return aiohttp.web_runner.ServerRunner(server, debug=debug, **kwargs)


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    """The kmock handler with Kubernetes API semantics (see the package docstring)."""

    faults: FaultInjector = attrs.field(factory=FaultInjector)
    pager: Pager = attrs.field(factory=Pager)  # snapshots of chunked lists (``paging.py``)
    auth: AuthTable = attrs.field(factory=AuthTable)  # TokenReview/SubjectAccessReview answers (``auth.py``)
    rbac: Authorizer = attrs.field(factory=Authorizer)  # RBAC for the identities it is given (``rbac.py``)
    history_window: int = 10_000  # watch events retained for resuming; older RVs get 410 Gone
    bookmark_seconds: float = 60.0  # a BOOKMARK this often on watches that allow them (``bookmarks.py``)
    schema_validation: bool = True  # prune/default/validate custom resources against their CRD schema
    requests_kept: int = 20_000  # requests kept in kmock's request log (``list(api)``), oldest dropped
    # ``kubectl logs`` sources: (namespace, pod) -> the log text, or None (then the termination messages)
    log_sources: list[podlogs.LogSource] = attrs.field(factory=list, init=False)
    registry: Registry = attrs.field(init=False)
    events: watch.EventLog = attrs.field(init=False)
    store: Store = attrs.field(init=False)
    _request_ids: Iterator[int] = attrs.field(factory=itertools.count, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        lock = threading.RLock()
        self.registry = Registry(self.resources, lock)
        self.events = watch.EventLog(self.history_window)
        self.store = Store(self.objects, self.registry, self.events, lock, schema_validation=self.schema_validation)
        for rtype in builtin_types():
            self.registry.register(rtype)
        with lock:
            self.store.create(self.registry.namespaces, "v1", None, {"metadata": {"name": "default"}})

    # -- the public, thread-safe accessors --------------------------------------------------------------

    def find_type(self, spec: str) -> ResourceType:
        """A resource by plural, plural.group, group/version/plural, v1/plural, kind or short name."""
        return self.registry.find(spec)

    def get_object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A deep copy of a stored object, or None."""
        rtype = self.find_type(resource)
        with self.store.lock:
            obj = self.store.get(rtype, namespace if rtype.namespaced else None, name)
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
        with self.store.lock:
            return [copy.deepcopy(obj) for obj in self.store.iter(rtype, namespace) if labels(obj) and fields(obj)]

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    @property
    def versions_kept(self) -> int:
        """Past versions kept per object in ``objects[...].history`` (memory bound)."""
        return self.store.versions_kept

    @versions_kept.setter
    def versions_kept(self, value: int) -> None:
        self.store.versions_kept = value

    @property
    def managed_fields(self) -> bool:
        """Whether metadata.managedFields are recorded per field manager (``managedfields.py``)."""
        return self.store.managed_fields

    @managed_fields.setter
    def managed_fields(self, value: bool) -> None:
        self.store.managed_fields = value

    @property
    def written(self) -> admission.WriteLog:
        """Bytes and writes stored per object (etcd's write volume)."""
        return self.store.written

    @property
    def skipped_rules(self) -> list[str]:
        """CEL rules the library could not run (skipped, not failed)."""
        return self.store.skipped_rules

    def pause_collector(self) -> None:
        self.store.pause_collector()

    def resume_collector(self) -> None:
        self.store.resume_collector()

    def stop_watches(self) -> None:
        self.events.stop()

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

    def _address(self, parts: list[str]) -> Address | None:
        try:
            return self.registry.address(parts)
        except ApiError:
            return None

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
        address = self._address(_parts(raw_request.path))
        if address is not None:
            resource = resource_key(address.rtype.group, address.version, address.rtype.plural)
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
        self.events.loop = asyncio.get_running_loop()
        path = request.url.path
        fault = self.faults.match(request.method.value, path)
        if fault is not None and fault.stall is not None:  # held (a black hole), then served as usual
            if not await hold_stalled(fault, request._raw_request, lambda: self.events.stopping):
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
            try:
                document = discovery.openapi_document(self.registry.types(), path)
            except ApiError as e:
                return await self._error_response(request, e)
            return await rendering.Response(payload=document)(request)
        if path in ("/api", "/apis") or path.startswith(("/api/", "/apis/")):
            try:
                response = self._serve(request)
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
        parts = _parts(request.url.path)
        verb_of = {"POST": "create", "PUT": "update", "PATCH": "patch"}
        review = len(parts) == 4 and parts[0] == "apis" and (parts[1], parts[3]) in verbs.REVIEWS
        address = None if review else self._address(parts)
        if review:
            attributes = AuthzRequest(*who, "create", api_group=parts[1], resource=parts[3])
        elif address is None:
            attributes = AuthzRequest(*who, verb_of.get(method, method.lower()), path=request.url.path)
        else:
            if method == "GET":
                watching = request.params.get("watch") in ("true", "1")
                verb = "watch" if watching else "list" if address.name is None else "get"
            elif method == "DELETE":
                verb = "delete" if address.name is not None else "deletecollection"
            else:
                verb = verb_of.get(method, method.lower())
            namespace = address.namespace or ""
            if kind_of(address.rtype).own_namespace and address.name:
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

    async def _error_response(self, request: rendering.Request, error: ApiError) -> aiohttp.web.StreamResponse:
        response = rendering.Response(status=error.code, headers=error.headers or None, payload=error.status())
        return await response(request)

    # -- routing --------------------------------------------------------------------------------------------

    def _serve(self, request: rendering.Request) -> rendering.Response:
        parts = _parts(request.url.path)
        method = request.method.value.upper()
        if method == "GET":
            document = discovery.document(self.registry.types(), parts)
            if document is not None:
                return rendering.Response(payload=document)
        review = verbs.review(self.auth, method, parts, request)
        if review is not None:
            return review
        is_log = len(parts) == 7 and parts[6] == "log" and parts[2] == "namespaces" and parts[4] == "pods"
        if method == "GET" and parts[:2] == ["api", "v1"] and is_log:
            stopping = lambda: self.events.stopping  # noqa: E731
            return verbs.pod_log(self.store, self.log_sources, stopping, request, parts[3], parts[5], request.params)
        address = self.registry.address(parts)
        params = dict(request.params)
        dry_run = params.get("dryRun") == "All"
        accept = request.headers.get("Accept", "")
        if method in ("POST", "PUT", "PATCH"):
            return self._write(request, method, address, params, dry_run)
        if method == "GET":
            if params.get("watch") in ("true", "1"):
                matches = verbs.selectors(params)
                table = lambda items: verbs.table(self.store, address, items, params)  # noqa: E731
                return watch.stream(self.store, request, address, params, matches, table, self.bookmark_seconds)
            if address.name is None:
                return rendering.Response(payload=verbs.list_(self.store, self.pager, address, params, accept))
            return verbs.get(self.store, address, params, accept)
        if method == "DELETE":
            return verbs.delete(self.store, request, address, params, dry_run)
        raise verbs.not_allowed(method)

    def _write(
        self, request: rendering.Request, method: str, address: Address, params: Mapping[str, str], dry_run: bool
    ) -> rendering.Response:
        """A write under the request's ``fieldValidation`` (default Warn, as the API server's), its warnings as
        ``Warning: 299`` headers."""
        directive = params.get("fieldValidation") or "Warn"
        if directive not in _FIELD_VALIDATION_VALUES:
            raise ApiError(
                400,
                f'fieldValidation: Unsupported value: "{directive}": supported values: "Ignore", "Strict", "Warn"',
            )
        FIELD_VALIDATION.set(None if directive == "Ignore" else directive)
        warnings: list[str] = []
        WARNINGS.set(warnings)
        admission.set_writer(params, request.headers, request.body, address.subresource)
        response = verbs.write(self.store, request, method, address, dry_run)
        if warnings:
            headers = dict(response.headers or {})
            headers["Warning"] = ", ".join(f'299 - "{_escape(w)}"' for w in warnings)
            response = attrs.evolve(response, headers=headers)
        return response
