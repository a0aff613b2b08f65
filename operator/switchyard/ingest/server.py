"""The CloudEvents ingest endpoint (aiohttp, on the event loop it is started in: `handlers/triggerloop.py`).

`POST /v1/namespaces/{ns}/triggers/{name}` takes one CloudEvent (structured or binary HTTP mode, `events.py`)
for one Trigger; `POST /v1/namespaces/{ns}/events` delivers it to every Ready Trigger of the namespace whose
eventTypes and filter take it (a broker). The caller is authenticated and authorized by the `Authenticator`
it is given (`k8s/reviews.py`: TokenReview + SubjectAccessReview); events go to the Trigger engine
(`k8s/triggers`), which persists them. No Kubernetes I/O of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from switchyard.ingest.events import no_target_message, parse_event
from switchyard.k8s.client import API_ERRORS
from switchyard.k8s.reviews import Authenticator
from switchyard.k8s.triggers import Outcome, TriggerEngine
from switchyard.logic.triggers import EventFacts, EventRejected, check_event

MAX_BODY_BYTES = 1024 * 1024
log = logging.getLogger("switchyard.ingest")


def _json(outcome: Outcome) -> web.Response:
    return web.json_response(outcome.body, status=outcome.status, headers=dict(outcome.headers))


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"reason": reason, "error": message}, status=status, headers=headers)


class IngestServer:
    """The aiohttp application; `start()`/`stop()` inside the engine's loop. `stop` lets the requests in flight
    finish (persisted and answered) for up to `shutdown_timeout` seconds, then cancels them unanswered."""

    def __init__(
        self, engine: TriggerEngine, authenticator: Authenticator, host: str, port: int, max_body: int = MAX_BODY_BYTES,
        shutdown_timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.shutdown_timeout = shutdown_timeout
        self.auth = authenticator
        self.host = host
        self.port = port
        self.max_body = max_body
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_post("/v1/namespaces/{namespace}/triggers/{name}", self.post_trigger)
        self.app.router.add_post("/v1/namespaces/{namespace}/events", self.post_broadcast)
        self.app.router.add_get("/healthz", self.healthz)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("CloudEvents ingest listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _authorize(self, request: web.Request, namespace: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Unauthorized", "a Kubernetes bearer token is required", {"WWW-Authenticate": "Bearer"})
        try:
            result = await self.auth.check(token.strip(), namespace)
        except API_ERRORS as exc:
            log.warning("token/access review failed: %s", exc)
            return _error(503, "AuthUnavailable", f"authentication is unavailable: {exc}", {"Retry-After": "1"})
        if result.status == 401:
            return _error(401, "Unauthorized", result.message, {"WWW-Authenticate": "Bearer"})
        if result.status == 403:
            return _error(403, "Forbidden", result.message)
        return None

    async def _body(self, request: web.Request) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > self.max_body:
            return _error(413, "TooLarge", f"the body is {request.content_length} bytes; the limit is {self.max_body}")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "TooLarge", f"the body exceeds the limit of {self.max_body} bytes")

    async def post_trigger(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        denied = await self._authorize(request, namespace)
        if denied is not None:
            return denied
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            entry = await self.engine.entry(namespace, name)
        except API_ERRORS as exc:
            return _error(503, "Unavailable", f"cannot read the trigger: {exc}", {"Retry-After": "1"})
        if entry is None:
            return _error(404, "NotFound", f'trigger "{name}" not found in namespace "{namespace}"')
        try:
            event = parse_event(dict(request.headers), body)
        except EventRejected as rejection:
            outcome = self.engine.record_rejection(entry, rejection)
            await self.engine.warn(entry, rejection.reason, rejection.message)
            return _json(outcome)
        return _json(await self._deliver(entry, event))

    async def _deliver(self, entry: Any, event: EventFacts) -> Outcome:
        try:
            outcome = await self.engine.ingest(entry, event)
        except API_ERRORS as exc:
            log.warning("trigger %s/%s: event %s not persisted: %s", entry.namespace, entry.name, event.id, exc)
            return Outcome(503, {"trigger": entry.name, "error": f"not persisted, retry: {exc}"}, {"Retry-After": "1"})
        if outcome.status >= 400 and outcome.status not in (409, 422, 429):
            await self.engine.warn(entry, str(outcome.body.get("reason", "Rejected")), str(outcome.body.get("error")))
        return outcome

    async def post_broadcast(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        denied = await self._authorize(request, namespace)
        if denied is not None:
            return denied
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            event = parse_event(dict(request.headers), body)
        except EventRejected as rejection:
            return _error(rejection.status, rejection.reason, rejection.message)
        try:
            entries = await self.engine.namespace_entries(namespace)
        except API_ERRORS as exc:
            return _error(503, "Unavailable", f"cannot list the triggers: {exc}", {"Retry-After": "1"})
        targets, not_ready, refused = [], [], []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.spec is None or not entry.ready:
                not_ready.append(entry.name)
                continue
            try:
                check_event(entry.spec, entry.filter, event)
            except EventRejected:
                refused.append(entry.name)
                continue  # not for this Trigger
            targets.append(entry)
        if not targets:  # a 202 would say the event is being handled; nothing would ever happen to it
            return _error(404, "NoMatchingTrigger", no_target_message(namespace, event, not_ready, refused))
        outcomes = await asyncio.gather(*(self._deliver(entry, event) for entry in targets))
        results = [{"status": outcome.status, **outcome.body} for outcome in outcomes]
        failed = [o for o in outcomes if o.status >= 500 or o.status == 429]
        status = failed[0].status if failed else 202
        return web.json_response({"triggers": results}, status=status, dumps=json.dumps)
