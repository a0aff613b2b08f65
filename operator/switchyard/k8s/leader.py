"""Leader election with a coordination.k8s.io/v1 Lease: only the holder runs handlers, a second replica waits.

`python -m switchyard --leader-election` acquires the Lease before kopf starts, renews it from a thread and
releases it on a clean exit. A replica that cannot renew in time, or sees another holder, exits non-zero at
once, so it never acts without the Lease. Expiry is judged the way client-go does it, by how long the record
has stayed unchanged on this replica's own monotonic clock, so clock skew between nodes does not matter.
Every Lease call has a timeout (a third of the renew deadline, at most 5 s): a renewal that gets no answer
is a failed one, and the holder exits before the renew deadline rather than claim a Lease it cannot renew.
Each Lease name is one election: several operators with different names (shards) work side by side.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchyard.config import DEFAULT_LEASE_NAME
from switchyard.k8s.errors import conflict, invalid, not_found

log = logging.getLogger("switchyard.leader")

# What a Lease call that got no answer raises: an error Status, a socket error, or urllib3's own (a read
# timeout, a dropped connection), which is no OSError and once killed the renewer thread silently
API_TROUBLE = (ApiException, OSError, urllib3.exceptions.HTTPError)


def default_identity() -> str:
    """POD_NAME in a Deployment (a restarted container takes its own Lease back at once), else host-pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def default_namespace() -> str:
    return os.environ.get("POD_NAMESPACE") or "default"


@dataclass(frozen=True)
class LeaseSettings:
    name: str = DEFAULT_LEASE_NAME
    namespace: str = "default"
    identity: str = ""
    duration: int = 15  # leaseDurationSeconds: how long others wait after the last renewal they saw
    renew_every: float = 5.0  # how often the holder renews (and a waiting replica retries)

    @property
    def renew_deadline(self) -> float:
        """The holder gives up (exits) when it could not renew for this long: well before others may take over."""
        return self.duration * 2 / 3

    def check(self) -> None:
        if not self.identity:
            raise ValueError("the lease identity must not be empty")
        if not 0 < self.renew_every < self.renew_deadline:
            raise ValueError(
                f"lease renewal every {self.renew_every:g}s must be shorter than two thirds of the lease "
                f"duration ({self.duration:g}s)"
            )


@dataclass
class Observation:
    """The record as this replica last saw it change, on its own monotonic clock."""

    holder: str
    resource_version: str
    duration: float
    seen_at: float


class MicroTime(datetime):
    """A datetime the client sends as a metav1.MicroTime: always six fractional digits.

    The client serializes datetimes with `isoformat()`, which drops the fraction when the microseconds are 0
    (once in a million renewals); the API server parses Lease times as `2006-01-02T15:04:05.000000Z07:00`
    and answers such a write with 400 BadRequest."""

    def isoformat(self, sep: str = "T", timespec: str = "microseconds") -> str:
        return super().isoformat(sep, timespec)


def micro_time(value: datetime | None) -> MicroTime | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return MicroTime(*aware.timetuple()[:6], aware.microsecond, tzinfo=aware.tzinfo)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _with_micro_times(lease: Any) -> Any:
    """The Lease with its spec's times as MicroTime (a read Lease's times came back as plain datetimes)."""
    if lease.spec is not None:
        lease.spec.acquire_time = micro_time(lease.spec.acquire_time)
        lease.spec.renew_time = micro_time(lease.spec.renew_time)
    return lease


class LeaseLost(Exception):
    """Raised when this replica no longer holds the Lease."""


class LeaderLease:
    """Acquire, renew and release one Lease. Blocking calls; the renewer runs in its own thread."""

    def __init__(
        self,
        api: client.CoordinationV1Api,
        settings: LeaseSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = now_utc,
    ) -> None:
        settings.check()
        self.api = api
        self.settings = settings
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.observed: Observation | None = None
        self.last_renewed = 0.0
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self._timeout = max(1.0, min(5.0, settings.renew_deadline / 3))

    @property
    def where(self) -> str:
        return f"{self.settings.namespace}/{self.settings.name}"

    # --- reading and judging the record -------------------------------------------------------------------

    def _read(self) -> Any | None:
        try:
            return self.api.read_namespaced_lease(
                self.settings.name, self.settings.namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if not_found(exc):
                return None
            raise

    def _observe(self, lease: Any) -> Observation:
        spec = lease.spec
        holder = (spec.holder_identity if spec else None) or ""
        duration = float((spec.lease_duration_seconds if spec else None) or self.settings.duration)
        rv = lease.metadata.resource_version or ""
        if self.observed is None or self.observed.resource_version != rv:
            self.observed = Observation(holder, rv, duration, self.monotonic())
        return self.observed

    def free_for_me(self, lease: Any) -> bool:
        """Mine already, released (no holder), or unchanged for longer than its duration since we saw it."""
        seen = self._observe(lease)
        if seen.holder in ("", self.settings.identity):
            return True
        return self.monotonic() - seen.seen_at > seen.duration

    def _spec(self, acquire_time: datetime | None) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.settings.identity,
            lease_duration_seconds=self.settings.duration,
            acquire_time=micro_time(acquire_time),
            renew_time=micro_time(self.wall_clock()),
        )

    # --- acquiring -----------------------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """One attempt: create the Lease, or take it over when it is free for us. A lost race returns False."""
        lease = self._read()
        try:
            if lease is None:
                body = client.V1Lease(
                    metadata=client.V1ObjectMeta(name=self.settings.name, namespace=self.settings.namespace),
                    spec=self._spec(self.wall_clock()),
                )
                self.api.create_namespaced_lease(self.settings.namespace, body, _request_timeout=self._timeout)
            else:
                if not self.free_for_me(lease):
                    return False
                mine = (lease.spec.holder_identity if lease.spec else None) == self.settings.identity
                acquired_at = lease.spec.acquire_time if mine and lease.spec else self.wall_clock()
                transitions = (lease.spec.lease_transitions if lease.spec else None) or 0
                lease.spec = self._spec(acquired_at)
                lease.spec.lease_transitions = transitions if mine else transitions + 1
                # resourceVersion in the body: a concurrent taker gets 409 and loses the race.
                self.api.replace_namespaced_lease(
                    self.settings.name,
                    self.settings.namespace,
                    _with_micro_times(lease),
                    _request_timeout=self._timeout,
                )
        except ApiException as exc:
            if conflict(exc) or invalid(exc):  # somebody else created or updated it first
                return False
            raise
        self.last_renewed = self.monotonic()
        return True

    def acquire(self) -> None:
        """Block until this replica holds the Lease, logging who holds it while waiting."""
        logged_holder: str | None = None
        while True:
            try:
                if self.try_acquire():
                    log.info("acquired leader lease %s as %s", self.where, self.settings.identity)
                    return
            except API_TROUBLE as exc:
                log.warning("cannot reach the leader lease %s yet: %s", self.where, exc)
            holder = self.observed.holder if self.observed else "nobody"
            if holder != logged_holder:
                log.info("waiting for leader lease %s held by %s", self.where, holder)
                logged_holder = holder
            time.sleep(min(self.settings.renew_every, 2.0))

    # --- renewing ------------------------------------------------------------------------------------------

    def renew(self) -> None:
        """Renew once; LeaseLost when another replica holds it (or it is gone), ApiException on API trouble."""
        lease = self._read()
        holder = (lease.spec.holder_identity if lease is not None and lease.spec else None) or ""
        if lease is None or holder != self.settings.identity:
            raise LeaseLost(f"leader lease {self.where} is now held by {holder or 'nobody'}")
        lease.spec.renew_time = self.wall_clock()
        lease.spec.lease_duration_seconds = self.settings.duration
        self.api.replace_namespaced_lease(
            self.settings.name, self.settings.namespace, _with_micro_times(lease), _request_timeout=self._timeout
        )
        self.last_renewed = self.monotonic()

    def keep_renewing(self, on_lost: Callable[[str], None]) -> None:
        """The renewer loop: renew every `renew_every`, retry API trouble each second until the deadline."""
        while not self.stopping.is_set():
            wait = self.settings.renew_every
            try:
                self.renew()
            except LeaseLost as exc:
                on_lost(str(exc))
                return
            except API_TROUBLE as exc:
                late = self.monotonic() - self.last_renewed
                if late >= self.settings.renew_deadline:
                    on_lost(f"could not renew leader lease {self.where} for {late:.1f}s: {exc}")
                    return
                log.warning("renewing leader lease %s failed (%s); retrying", self.where, exc)
                wait = 1.0
            self.stopping.wait(wait)

    def start_renewing(self, on_lost: Callable[[str], None]) -> None:
        self.thread = threading.Thread(
            target=self.keep_renewing, args=(on_lost,), name="leader-lease-renewer", daemon=True
        )
        self.thread.start()

    # --- releasing -----------------------------------------------------------------------------------------

    def release(self) -> None:
        """Stop renewing and hand the Lease back (no holder, 1 s duration) so a waiting replica takes over now."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=self._timeout * 2)
        try:
            lease = self._read()
            if lease is None or lease.spec is None or lease.spec.holder_identity != self.settings.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = self.wall_clock()
            self.api.replace_namespaced_lease(
                self.settings.name, self.settings.namespace, _with_micro_times(lease), _request_timeout=self._timeout
            )
            log.info("released leader lease %s", self.where)
        except API_TROUBLE as exc:  # it expires by itself; nothing else to do on the way out
            log.warning("could not release leader lease %s: %s", self.where, exc)


def exit_at_once(reason: str) -> None:
    """Lost leadership: stop acting this instant (no handler may run without the Lease); the Pod restarts."""
    log.critical("%s; exiting so that this replica never acts without the lease", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(3)


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's naming
        ok = self.path.split("?", 1)[0] == "/healthz"
        body = b"waiting for the leader lease\n" if ok else b"not found\n"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class HealthWhileWaiting:
    """Answer the liveness probe while waiting for the Lease (kopf serves it once running), so a standby
    replica is not restarted by its probe. Closed before kopf binds the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def __enter__(self) -> HealthWhileWaiting:
        if self.port:
            self.server = ThreadingHTTPServer(("0.0.0.0", self.port), _Healthy)
            threading.Thread(target=self.server.serve_forever, name="standby-health", daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
