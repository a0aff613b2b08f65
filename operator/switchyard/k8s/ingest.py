"""The CloudEvents ingest endpoint (aiohttp, in the operator's event loop) and its Kubernetes authentication.

`POST /v1/namespaces/{ns}/triggers/{name}` takes one CloudEvent (structured or binary HTTP mode, decoded by
the `cloudevents` SDK) for one Trigger; `POST /v1/namespaces/{ns}/events` delivers it to every Ready Trigger
of the namespace whose eventTypes and filter take it (a broker). The caller's bearer token is checked with a
TokenReview, and a SubjectAccessReview asks whether that user may create workflows.switchyard.dev in the
namespace; positive answers are cached for `AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.exceptions import BaseCloudEventException
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api, ApiTrouble
from switchyard.k8s.triggers import Outcome, TriggerEngine
from switchyard.logic.triggers import EventFacts, EventRejected, check_event
from switchyard.models.crd import GROUP

MAX_BODY_BYTES = 1024 * 1024
AUTH_CACHE_SECONDS = 10.0
STANDARD_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "datacontenttype", "dataschema", "subject", "time", "data", "data_base64"}
)
log = logging.getLogger("switchyard.ingest")


@dataclass(frozen=True)
class AuthResult:
    status: int  # 200 allowed, 401 unauthenticated, 403 forbidden
    message: str
    user: str = ""


class Authenticator:
    """Bearer token -> TokenReview -> SubjectAccessReview (create workflows in the namespace)."""

    def __init__(self, api: Api, ttl: float = AUTH_CACHE_SECONDS, audiences: list[str] | None = None) -> None:
        self.api = api
        self.audiences = list(audiences or [])  # empty: the API server's own (what TokenReview defaults to)
        self.authn = client.AuthenticationV1Api(api.api_client)
        self.authz = client.AuthorizationV1Api(api.api_client)
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, AuthResult]] = {}

    async def check(self, token: str, namespace: str) -> AuthResult:
        key = (token, namespace)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result = await self._review(token, namespace)
        if result.status == 200:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, result)
        return result

    async def _review(self, token: str, namespace: str) -> AuthResult:
        review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=self.audiences or None))
        answer = await self.api.call(self.authn.create_token_review, review)
        status = answer.status
        if status is None or not status.authenticated or status.user is None:
            reason = (status.error if status is not None else None) or "the token was not accepted"
            return AuthResult(401, f"authentication failed: {reason}")
        # An audience-unaware authenticator (a webhook) may accept any token: the API documents that a client
        # asking for audiences checks the answer names one of them.
        if self.audiences and not set(status.audiences or ()) & set(self.audiences):
            wanted = ", ".join(self.audiences)
            return AuthResult(401, f"authentication failed: the token is not for the audience(s) {wanted}")
        user = status.user
        access = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user.username,
                groups=user.groups,
                uid=user.uid,
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb="create", group=GROUP, resource="workflows"
                ),
            )
        )
        decision = await self.api.call(self.authz.create_subject_access_review, access)
        if decision.status is None or not decision.status.allowed:
            why = f" ({decision.status.reason})" if decision.status is not None and decision.status.reason else ""
            message = f'user "{user.username}" may not create workflows.{GROUP} in namespace "{namespace}"{why}'
            return AuthResult(403, message, user.username or "")
        return AuthResult(200, "allowed", user.username or "")


def event_facts(event: BaseCloudEvent) -> EventFacts:
    attributes = event.get_attributes()
    time_value = event.get_time()
    return EventFacts(
        id=event.get_id(),
        source=event.get_source(),
        type=event.get_type(),
        data=event.get_data(),
        datacontenttype=event.get_datacontenttype(),
        subject=event.get_subject(),
        time=time_value.isoformat() if time_value is not None else None,
        extensions={k: v for k, v in attributes.items() if k not in STANDARD_ATTRIBUTES},
    )


def parse_event(headers: dict[str, str], body: bytes) -> EventFacts:
    """Decode a CloudEvent (binary mode when ce- headers are present, else structured); 400 when malformed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = from_http_event(HTTPMessage(headers=lowered, body=body))
        facts = event_facts(event)
    except (BaseCloudEventException, ValueError, KeyError, TypeError, AttributeError) as error:
        raise EventRejected(400, "MalformedEvent", f"malformed CloudEvent: {error}") from error
    # The SDK invents a UUID for a missing `id` (a producer's convenience); on the wire `id` is REQUIRED and it
    # is what makes a re-sent event idempotent, so an event without one is refused.
    binary = any(key.startswith("ce-") for key in lowered)
    sent_id = lowered.get("ce-id") if binary else _structured_id(body)
    if not sent_id:
        raise EventRejected(400, "MalformedEvent", "malformed CloudEvent: missing required attribute 'id'")
    return facts


def _structured_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def no_target_message(namespace: str, event: EventFacts, not_ready: list[str], refused: list[str]) -> str:
    """Why a broadcast event reached no Trigger: none exists, none is Ready, or none accepts its type/filter."""
    text = f'no Ready Trigger in namespace "{namespace}" accepts events of type "{event.type[:256]}"'
    if not not_ready and not refused:
        return text + " (the namespace has no Triggers)"
    parts = []
    if refused:
        parts.append(f"refused by eventTypes or filter: {', '.join(refused[:10])}")
    if not_ready:
        parts.append(f"not Ready: {', '.join(not_ready[:10])}")
    return f"{text} ({'; '.join(parts)})"


def _json(outcome: Outcome) -> web.Response:
    return web.json_response(outcome.body, status=outcome.status, headers=dict(outcome.headers))


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"reason": reason, "error": message}, status=status, headers=headers)


class IngestServer:
    """The aiohttp application; `start()`/`stop()` inside the operator's loop."""

    def __init__(
        self, engine: TriggerEngine, authenticator: Authenticator, host: str, port: int, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.engine = engine
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
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
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
        except (ApiException, ApiTrouble) as exc:
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
        except (ApiException, ApiTrouble) as exc:
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
        except (ApiException, ApiTrouble) as exc:
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
        except (ApiException, ApiTrouble) as exc:
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
