"""The `switchyard ui` web server (aiohttp): the page and its packaged assets, a JSON API over the caller's
cluster, and server-sent event streams fed by watches (lists, one Workflow, a node's log).

Binds 127.0.0.1 only. Every cluster call is made with the caller's kubeconfig (`switchyard.ui.kube`), so
Kubernetes RBAC decides; an API server's 403 is passed on as a 403 with its message. Writes need the
`X-Switchyard: 1` header (a cross-site form cannot send it) and a loopback Host (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import hashlib
import json
import logging
import pathlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from switchyard.artifacts.digest import format_digest
from switchyard.cli.actions import retry_body, stop_patch
from switchyard.logic.nodestate import implied_attempts
from switchyard.models.common import MAX_MESSAGE
from switchyard.models.crd import GROUP
from switchyard.ui import artifacts, present
from switchyard.ui.auth import COOKIE, Access, Reviewer
from switchyard.ui.kube import PLURALS, Kube, KubeError, Stopper

STATIC = pathlib.Path(__file__).parent / "static"
HOST = "127.0.0.1"
KEEPALIVE_SECONDS = 15.0
DETAIL_COALESCE_SECONDS = 0.25  # a busy Workflow sends at most ~4 updates a second to each page
LOG_REOPEN_SECONDS = 1.0  # a log stream the server closed while the Pod still runs is re-opened after this
MAX_ROUTE_INPUT = 512 * 1024
FINISHED_PODS = frozenset({"Succeeded", "Failed"})
PAGES = ("workflows", "components", "routingrules", "triggers")

logger = logging.getLogger(__name__)
T = TypeVar("T")
KUBE: web.AppKey[Kube] = web.AppKey("kube", Kube)
POOL: web.AppKey[ThreadPoolExecutor] = web.AppKey("pool", ThreadPoolExecutor)
REVIEWER: web.AppKey[Reviewer | None] = web.AppKey("reviewer")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=functools.partial(json.dumps, default=str))


def _failure(error: KubeError) -> web.Response:
    status = error.status if 400 <= error.status < 600 else 502
    return _json({"status": error.status, "message": error.message}, status=status)


async def _call(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking client call on the server's threads."""
    return await asyncio.get_running_loop().run_in_executor(request.app[POOL], functools.partial(fn, *args))


def _api(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """A JSON endpoint: a KubeError becomes its HTTP status and message."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except KubeError as error:
            return _failure(error)

    return wrapped


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE, "")


async def _allow(
    request: web.Request, verb: str, resource: str, namespace: str = "", *, group: str | None = None, sub: str = ""
) -> None:
    """With token auth (in a cluster): the caller's token reviewed, and this permission, or KubeError 401/403.
    Without it (`switchyard ui` on a laptop) the kubeconfig's own credentials meet RBAC at the API server."""
    reviewer = request.app[REVIEWER]
    if reviewer is None:
        return
    access = Access(verb, resource, namespace, group=GROUP if group is None else group, subresource=sub)
    await _call(request, reviewer.authorize, _token(request), access)


def _plural(request: web.Request) -> str:
    plural = request.match_info["plural"]
    if plural not in PLURALS:
        raise web.HTTPNotFound(text=f"unknown kind {plural}")
    return plural


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    host = (request.host or "").rsplit(":", 1)[0]
    if request.app[REVIEWER] is None and host not in LOCAL_HOSTS:
        return web.Response(status=421, text="switchyard ui answers on 127.0.0.1 or localhost only")
    if request.method not in ("GET", "HEAD") and request.headers.get("X-Switchyard") != "1":
        return web.Response(status=403, text="missing X-Switchyard header")
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


# --- the page ---------------------------------------------------------------------------------------------------


async def page(_request: web.Request) -> web.FileResponse:
    """Every deep link (`/workflows/NS/NAME`, `/components/NS/NAME`, ...) is the one page; it routes itself."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


# --- reads ------------------------------------------------------------------------------------------------------


@_api
async def namespaces(request: web.Request) -> web.Response:
    kube = request.app[KUBE]
    try:
        await _allow(request, "list", "namespaces", group="")
        names = await _call(request, kube.namespaces)
    except KubeError as error:  # a user who may not list namespaces still types one
        if error.status == 401:
            raise
        return _json({"namespaces": [], "default": kube.default_namespace, "error": error.message})
    return _json({"namespaces": names, "default": kube.default_namespace})


@_api
async def health(request: web.Request) -> web.Response:
    """The server's own state: how many watches it holds open (one per open page stream); no anonymous access
    with token auth either."""
    reviewer = request.app[REVIEWER]
    if reviewer is not None:
        await _call(request, reviewer.authenticate, _token(request))
    return _json({"watches": request.app[KUBE].watches})


@_api
async def detail(request: web.Request) -> web.Response:
    plural = _plural(request)
    await _allow(request, "get", plural, request.match_info["ns"])
    obj = await _call(request, request.app[KUBE].get, plural, request.match_info["ns"], request.match_info["name"])
    return _json(present.workflow_detail(obj) if plural == "workflows" else present.resource_row(obj))


@_api
async def events(request: web.Request) -> web.Response:
    plural = _plural(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    await _allow(request, "list", "events", ns, group="")
    found = await _call(request, request.app[KUBE].events, ns, name, PLURALS[plural])
    return _json({"events": found})


def _user_kube(request: web.Request) -> Kube:
    """The caller's own credentials: the kubeconfig's, or in a cluster their bearer token (the API server
    authenticates it and RBAC decides), never this server's service account."""
    kube = request.app[KUBE]
    if request.app[REVIEWER] is None:
        return kube
    token = _token(request)
    if not token:
        raise KubeError(401, "a Kubernetes bearer token is needed (Authorization header or the login form)")
    return kube.as_user(token)


@_api
async def node_artifacts(request: web.Request) -> web.Response:
    """A node's artifacts (from its status, or from the store's manifest when the status is compact)."""
    ns, name, node = request.match_info["ns"], request.match_info["name"], request.match_info["node"]
    kube = _user_kube(request)
    obj = await _call(request, kube.get, "workflows", ns, name)
    return _json({"artifacts": await _call(request, artifacts.recorded, kube, obj, node)})


@_api
async def artifact_download(request: web.Request) -> web.StreamResponse:
    """One artifact's bytes, streamed in chunks; the last chunk goes out only once the digest and size match
    what was recorded (a mismatch cuts the download short, so the browser reports it failed)."""
    ns, name, node = request.match_info["ns"], request.match_info["name"], request.match_info["node"]
    wanted = request.match_info["artifact"]
    kube = _user_kube(request)
    obj = await _call(request, kube.get, "workflows", ns, name)
    opened = await _call(request, artifacts.open_artifact, kube, obj, node, wanted)
    try:
        if request.query.get("check"):  # the page asks first, so a refusal shows in the panel, not as a page
            return _json({"name": opened.name, "size": opened.size})
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": content_disposition_header("attachment", filename=wanted.rsplit("/", 1)[-1]),
                "Cache-Control": "no-store",
            }
        )
        if opened.size is not None:
            response.content_length = opened.size
        await response.prepare(request)
        hasher, size, held = hashlib.sha256(), 0, b""
        while chunk := await _call(request, next, opened.chunks, b""):
            hasher.update(chunk)
            size += len(chunk)
            if held:
                await response.write(held)
            held = chunk
        got = format_digest(hasher.hexdigest())
        if (opened.digest and got != opened.digest) or (opened.size is not None and size != opened.size):
            logger.warning("artifact %s of %s/%s node %s: %s, %d bytes, not as recorded", wanted, ns, name, node,
                           got, size)  # fmt: skip
            if request.transport is not None:
                request.transport.close()
            return response
        if held:
            await response.write(held)
        await response.write_eof()
        return response
    finally:
        await _call(request, opened.close)


@_api
async def try_route(request: web.Request) -> web.Response:
    body = await request.json()
    data, content_type = str(body.get("data", "")), str(body.get("contentType") or "text/plain")
    if len(data.encode()) > MAX_ROUTE_INPUT:
        return _json({"status": 413, "message": f"input over {MAX_ROUTE_INPUT} bytes"}, status=413)
    await _allow(request, "list", "routingrules", str(body.get("namespace") or ""))
    listed = await _call(request, request.app[KUBE].objects, "routingrules", str(body.get("namespace") or ""))
    return _json(present.try_route(listed.get("items") or [], data, content_type))


@_api
async def login(request: web.Request) -> web.Response:
    """With token auth: check the pasted token (TokenReview) and keep it in an HttpOnly, SameSite cookie."""
    reviewer = request.app[REVIEWER]
    if reviewer is None:
        return _json({"user": None, "auth": "kubeconfig"})
    body = await request.json()
    token = str(body.get("token") or "").strip()
    user = await _call(request, reviewer.authenticate, token)
    response = _json({"user": user.name, "auth": "token"})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


# --- writes -----------------------------------------------------------------------------------------------------


@_api
async def stop(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    body = await request.json() if request.can_read_body else {}
    who = getpass.getuser()
    reviewer = request.app[REVIEWER]
    if reviewer is not None:  # in a cluster: the reviewed user, not the server's own account
        who = (await _call(request, reviewer.authorize, _token(request), Access("patch", "workflows", ns))).name
    reason = (body.get("reason") or f"stopped by {who} via switchyard ui")[:MAX_MESSAGE]
    await _call(request, request.app[KUBE].patch_workflow, ns, name, stop_patch(reason))
    return _json({"stopped": name, "reason": reason})


@_api
async def retry(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    kube = request.app[KUBE]
    await _allow(request, "create", "workflows", ns)
    old = await _call(request, kube.get, "workflows", ns, name)
    phase = (old.get("status") or {}).get("phase", "Pending")
    if phase != "Failed":
        return _json({"status": 409, "message": f"workflow {name} is {phase}: only a Failed one is retried"}, 409)
    listed = await _call(request, kube.objects, "workflows", ns)
    taken = {(item.get("metadata") or {}).get("name", "") for item in listed.get("items") or []}
    created = await _call(request, kube.create_workflow, ns, retry_body(old, taken))
    return _json({"created": created["metadata"]["name"]})


# --- server-sent events -----------------------------------------------------------------------------------------


async def _sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    payload = json.dumps(data, default=str, separators=(",", ":"))
    await response.write(f"event: {event}\ndata: {payload}\n\n".encode())


async def _allowed_stream(
    request: web.Request, response: web.StreamResponse, verb: str, resource: str, namespace: str, **kw: Any
) -> bool:
    """`_allow` for an event stream: a refusal is its one `failure` event (EventSource shows no HTTP status)."""
    try:
        await _allow(request, verb, resource, namespace, **kw)
        if verb == "list" and request.app[REVIEWER] is not None:
            await _allow(request, "watch", resource, namespace, **kw)
    except KubeError as error:
        await _send(response, "failure", {"status": error.status, "message": error.message})
        return False
    return True


@contextlib.asynccontextmanager
async def _watching(
    request: web.Request, plural: str, namespace: str | None, name: str | None = None
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stopping = Stopper()
    request.app[KUBE].watch(plural, namespace, asyncio.get_running_loop(), queue, stopping, name)
    try:
        yield queue
    finally:
        stopping.set()  # the client went (its handler cancelled) or the stream ended: the watch is shut now


async def _next(queue: asyncio.Queue[dict[str, Any]], response: web.StreamResponse) -> dict[str, Any] | None:
    """The next watch event, or None after a keep-alive comment."""
    try:
        return await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
    except TimeoutError:
        await response.write(b": keep-alive\n\n")
        return None


async def stream_list(request: web.Request) -> web.StreamResponse:
    """Rows of a kind (one namespace, or all): `snapshot` then `upsert` / `delete`, `failure` on API errors."""
    plural = _plural(request)
    row = present.workflow_row if plural == "workflows" else present.resource_row
    response = await _sse(request)
    if not await _allowed_stream(request, response, "list", plural, request.query.get("namespace") or ""):
        return response
    with contextlib.suppress(ConnectionResetError):
        async with _watching(request, plural, request.query.get("namespace") or None) as queue:
            while True:
                event = await _next(queue, response)
                if event is None:
                    continue
                kind = event["type"]
                if kind == "SNAPSHOT":
                    await _send(response, "snapshot", [row(obj) for obj in event["items"]])
                elif kind == "DELETED":
                    await _send(response, "delete", row(event["object"]))
                elif kind == "ERROR":
                    await _send(response, "failure", {"status": event["status"], "message": event["message"]})
                else:
                    await _send(response, "upsert", row(event["object"]))
    return response


async def stream_detail(request: web.Request) -> web.StreamResponse:
    """One object, whole, on every change (a busy Workflow's changes coalesced to a few a second)."""
    plural = _plural(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    shape = present.workflow_detail if plural == "workflows" else present.resource_row
    response = await _sse(request)
    if not await _allowed_stream(request, response, "watch", plural, ns):
        return response
    with contextlib.suppress(ConnectionResetError):
        async with _watching(request, plural, ns, name) as queue:
            while True:
                event = await _next(queue, response)
                if event is None:
                    continue
                if event["type"] == "MODIFIED":
                    await asyncio.sleep(DETAIL_COALESCE_SECONDS)
                while not queue.empty():  # only the newest state matters
                    newer = queue.get_nowait()
                    event = newer if newer["type"] != "ERROR" or event["type"] == "ERROR" else event
                kind = event["type"]
                if kind == "SNAPSHOT":
                    items = event["items"]
                    if items:
                        await _send(response, "object", shape(items[0]))
                    else:
                        await _send(response, "failure", {"status": 404, "message": f"{name} not found in {ns}"})
                elif kind == "DELETED":
                    await _send(response, "failure", {"status": 404, "message": f"{name} was deleted"})
                elif kind == "ERROR":
                    await _send(response, "failure", {"status": event["status"], "message": event["message"]})
                else:
                    await _send(response, "object", shape(event["object"]))
    return response


async def stream_log(request: web.Request) -> web.StreamResponse:
    """A node's log (its latest attempt's Pod): `line` events, following while the Pod runs, then `end`."""
    ns, name, node = request.match_info["ns"], request.match_info["name"], request.match_info["node"]
    kube = request.app[KUBE]
    response = await _sse(request)
    if not await _allowed_stream(request, response, "get", "pods", ns, group="", sub="log"):
        return response
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stopping = Stopper()

    def put(kind: str, data: Any) -> None:
        if not stopping.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(queue.put_nowait, (kind, data))

    def follow() -> None:
        try:
            obj = kube.get("workflows", ns, name)
            recorded = ((obj.get("status") or {}).get("nodes") or {}).get(node) or {}
            job, attempts = recorded.get("job"), recorded.get("attempts")
            if attempts is None:  # a compact forEach instance leaves the usual count out
                attempts = implied_attempts(str(recorded.get("phase")), recorded.get("reason"))
            if job:
                pod = kube.job_pod(ns, job)
            elif attempts and recorded.get("phase") not in ("Pending", "Skipped"):  # compact: no Job name kept
                pod = kube.attempt_pod(ns, str(obj["metadata"].get("uid", "")), node, int(attempts))
            else:
                put("end", {"message": f"node {node} has no Job yet"})
                return
            put("pod", {"pod": pod, "job": job})
            sent, pending = 0, b""
            while not stopping.is_set():
                phase = kube.pod_phase(ns, pod)
                seen = 0
                for chunk in kube.log_chunks(ns, pod, stopping):
                    if stopping.is_set():
                        return
                    # a re-opened stream starts from the top again: skip what was sent
                    fresh = chunk[max(0, sent - seen) :] if seen < sent else chunk
                    seen += len(chunk)
                    if not fresh:
                        continue
                    sent += len(fresh)
                    pending += fresh
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        put("line", line.decode(errors="replace"))
                if phase in FINISHED_PODS:
                    break
                stopping.wait(LOG_REOPEN_SECONDS)
            if pending:
                put("line", pending.decode(errors="replace"))
            put("end", {"message": f"pod {pod} finished"})
        except KubeError as error:
            put("failure", {"status": error.status, "message": error.message})

    threading.Thread(target=follow, name=f"log-{node}", daemon=True).start()
    try:
        with contextlib.suppress(ConnectionResetError):
            while True:
                try:
                    kind, data = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                await _send(response, kind, data)
                if kind in ("end", "failure"):
                    break
    finally:
        stopping.set()
    return response


# --- the application --------------------------------------------------------------------------------------------


def make_app(kube: Kube, reviewer: Reviewer | None = None) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=MAX_ROUTE_INPUT * 2)
    app[KUBE] = kube
    app[REVIEWER] = reviewer
    app[POOL] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ui-api")
    app.router.add_get("/", page)
    for kind in PAGES:
        app.router.add_get(f"/{kind}", page)
        app.router.add_get(f"/{kind}/{{ns}}/{{name}}", page)
    app.router.add_static("/static", STATIC, append_version=False)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/namespaces", namespaces)
    app.router.add_get("/api/stream/{plural}", stream_list)
    app.router.add_get("/api/stream/{plural}/{ns}/{name}", stream_detail)
    app.router.add_get("/api/{plural}/{ns}/{name}", detail)
    app.router.add_get("/api/{plural}/{ns}/{name}/events", events)
    app.router.add_get("/api/workflows/{ns}/{name}/nodes/{node}/log", stream_log)
    app.router.add_get("/api/workflows/{ns}/{name}/nodes/{node}/artifacts", node_artifacts)
    app.router.add_get("/api/workflows/{ns}/{name}/nodes/{node}/artifacts/{artifact:.+}", artifact_download)
    app.router.add_post("/api/workflows/{ns}/{name}/stop", stop)
    app.router.add_post("/api/workflows/{ns}/{name}/retry", retry)
    app.router.add_post("/api/route", try_route)
    app.router.add_post("/api/login", login)

    async def cleanup(app: web.Application) -> None:
        app[KUBE].close()
        app[POOL].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(cleanup)
    return app


def serve(
    kube: Kube, port: int, on_ready: Callable[[str], None], *, host: str = HOST, reviewer: Reviewer | None = None
) -> None:
    """Serve until interrupted; `on_ready` gets the URL once the socket listens (port 0: a free one)."""

    async def main() -> None:
        # handler_cancellation: a client that goes cancels its stream's handler at once, which shuts its watch
        runner = web.AppRunner(
            make_app(kube, reviewer), handle_signals=True, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        on_ready(f"http://{host}:{bound}/")
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())
