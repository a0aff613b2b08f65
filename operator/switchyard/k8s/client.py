"""The operator's Kubernetes API access: the official client, run in a thread pool, with retries.

Transient trouble (429 with Retry-After, 5xx, 409 Conflict on writes, connection errors) is retried here
(409 AlreadyExists never is: it is an answer; nor etcd's 500 `request is too large`: the same write fails again)
with capped exponential backoff; what is left is raised as `ApiTrouble` for kopf to retry later.
Every call is bounded (`bounded`: a connect and a read timeout, TCP keepalive on the pool's sockets), so a
black-holed connection (a control-plane upgrade, a dropped NAT entry) is a timeout that is retried, never a
runner waiting forever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils.keepalive import tcp_keepalive_socket_options

from switchyard.k8s.errors import already_exists, conflict, is_too_large, not_found, retry_after, too_many_requests
from switchyard.models.crd import GROUP, VERSION

T = TypeVar("T")
log = logging.getLogger("switchyard.api")

RETRIABLE = {409, 429, 500, 502, 503, 504}
MAX_TRIES = 8
CREDENTIALS_REFRESH_SECONDS = 10.0
CONNECT_TIMEOUT = 10.0  # seconds to connect (TCP + TLS) to the API server
# seconds without an answer: the API server itself ends a non-watch request after 60 s (--request-timeout,
# a 504), so waiting longer only waits on a dead connection
READ_TIMEOUT = 60.0


class ApiTrouble(Exception):
    """Trouble a later try may not have: a call that kept failing through `Api.call`'s retries, or an object
    found in a passing state (a Trigger's batch sealed meanwhile). The caller gives up for now and tries again
    on its next pass or kopf's retry."""


# What code outside k8s/ catches when an API call it asked for failed (it never imports the client itself).
API_ERRORS: tuple[type[Exception], ...] = (ApiException, ApiTrouble)


def load_config(kubeconfig: str | None = None) -> client.ApiClient:
    """kubeconfig from `KUBECONFIG`/`~/.kube/config`, else the in-cluster service account."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except config.ConfigException:
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    configuration.retries = False
    keep_connections_alive(configuration)
    if configuration.refresh_api_key_hook is not None:
        configuration.refresh_api_key_hook = ThrottledRefresh(configuration.refresh_api_key_hook)
    return client.ApiClient(configuration)


def keep_connections_alive(configuration: client.Configuration) -> None:
    """TCP keepalive on every pooled socket (client-go's: probe after 30 s idle), so the kernel notices a
    peer that went away without a FIN even while a call waits for its answer."""
    configuration.socket_options = tcp_keepalive_socket_options()


def bounded(fn: Callable[..., Any], kwargs: dict[str, Any], read_timeout: float) -> dict[str, Any]:
    """A client call's keyword arguments with a (connect, read) `_request_timeout`, unless it brings its own.
    Only generated client methods (or wrappers of one, `_unparsed`) take it: anything else is left alone."""
    if kwargs.get("_request_timeout") is None and _is_client_method(fn):
        kwargs["_request_timeout"] = (min(CONNECT_TIMEOUT, read_timeout), read_timeout)
    return kwargs


def _is_client_method(fn: Callable[..., Any]) -> bool:
    """A generated client method (pydantic's `validate_call` gives each a `raw_function`), or a wrapper of one."""
    seen: Any = fn
    for _ in range(4):
        if getattr(seen, "raw_function", None) is not None:
            return True
        seen = getattr(seen, "__wrapped__", None)
        if seen is None:
            return False
    return False


class ThrottledRefresh:
    """The client's credentials hook, run at most once per `interval` seconds.

    The kubeconfig loader installs a hook that the client runs before *every* request: it re-reads the
    loaded config into the Configuration (host, TLS files, proxy: the `host` setter alone scans the
    environment for proxies) and reloads a token that expires within 5 minutes. Per request this was ~5 %
    of the operator's CPU; a token 5 minutes from expiry is still reloaded in time when checked every 10 s.
    """

    def __init__(self, hook: Callable[[Any], None], interval: float = CREDENTIALS_REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.hook = hook
        self.interval = interval
        self.clock = clock
        self.last: float | None = None
        self.runs = 0
        self._lock = threading.Lock()

    def __call__(self, configuration: Any) -> None:
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return
        with self._lock:
            if self.last is not None and now - self.last < self.interval:
                return
            self.hook(configuration)
            self.runs += 1
            self.last = now
            # the loader's hook re-installs itself on each run: keep it as ours to call, and stay installed
            installed = getattr(configuration, "refresh_api_key_hook", None)
            if installed is not None and installed is not self:
                self.hook = installed
                configuration.refresh_api_key_hook = self


class Api:
    """Typed API groups plus `call`, which runs a blocking client call off the event loop, retrying."""

    def __init__(self, api_client: client.ApiClient, workers: int = 32, read_timeout: float = READ_TIMEOUT) -> None:
        self.api_client = api_client
        self.read_timeout = read_timeout
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="k8s")
        self.closed = False  # `close`d: the operator is stopping
        self.calls = 0
        self.retries = 0

    async def call(self, fn: Callable[..., T], *args: Any, retry_conflicts: bool = True, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        kwargs = bounded(fn, kwargs, self.read_timeout)
        delay = 0.1
        for attempt in range(1, MAX_TRIES + 1):
            self.calls += 1
            try:
                return await loop.run_in_executor(self._pool, lambda: direct(fn)(*args, **kwargs))
            except RuntimeError:  # the pool refuses work once closed: a daemon still running at shutdown stops
                if self.closed:  # (as if cancelled) instead of failing with a traceback
                    raise asyncio.CancelledError("the operator is stopping: its API client is closed") from None
                raise
            except ApiException as exc:
                # 409 AlreadyExists is an answer, not trouble: only a write Conflict (stale resourceVersion) retries
                stale = conflict(exc) and not already_exists(exc) and retry_conflicts
                if exc.status not in RETRIABLE or (conflict(exc) and not stale) or is_too_large(exc):
                    raise
                wait = retry_after(exc) if too_many_requests(exc) else None
                problem = f"HTTP {exc.status} {exc.reason}"
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                wait, problem = None, f"{type(exc).__name__}: {exc}"
            if attempt == MAX_TRIES:
                raise ApiTrouble(f"{getattr(fn, '__name__', fn)} kept failing: {problem}")
            self.retries += 1
            pause = wait if wait is not None else delay * (1 + random.random() / 2)
            log.debug("retrying %s in %.2fs after %s", getattr(fn, "__name__", fn), pause, problem)
            await asyncio.sleep(min(pause, 30.0))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def write(self, fn: Callable[..., Any], *args: Any, retry_conflicts: bool = True, **kwargs: Any) -> None:
        """`call` for a write whose answer the caller does not need: the response body (for a status patch,
        the whole object, up to ~1 MiB for a large Workflow) is read but never parsed into client models."""
        await self.call(_unparsed(fn), *args, retry_conflicts=retry_conflicts, **kwargs)

    # Jobs go through the generic object path (`/apis/batch/v1/namespaces/{ns}/jobs`, the same endpoint):
    # the typed BatchV1Api validates a dict body into client models and serializes them back (pydantic),
    # and parses every answer into models, which cost ~1.5 ms of CPU per Job at 1,000 Workflows.

    async def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        await self.write(
            self.custom.create_namespaced_custom_object, "batch", "v1", namespace, "jobs", manifest,
            retry_conflicts=False,
        )  # fmt: skip

    async def read_job(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.read_object("batch", "v1", namespace, "jobs", name)

    async def read_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> dict[str, Any]:
        """One object through the custom-objects API (any group, as plain JSON)."""
        found = await self.call(self.custom.get_namespaced_custom_object, group, version, namespace, plural, name)
        return json_object(found)

    async def list_objects(self, group: str, version: str, namespace: str, plural: str) -> dict[str, Any]:
        """A list through the custom-objects API (its `items` plain JSON)."""
        listed = await self.call(self.custom.list_namespaced_custom_object, group, version, namespace, plural)
        return json_object(listed)

    async def delete_job(self, namespace: str, name: str) -> None:
        await self.write(
            self.custom.delete_namespaced_custom_object, "batch", "v1", namespace, "jobs", name,
            propagation_policy="Background",
        )  # fmt: skip

    async def exists(self, plural: str, namespace: str, name: str) -> bool:
        """Whether a ConfigMap (`configmaps`) or one of our custom resources (any other plural) exists."""
        try:
            if plural == "configmaps":
                await self.call(self.core.read_namespaced_config_map, name, namespace)
            else:
                await self.call(self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name)
        except ApiException as exc:
            if not_found(exc):
                return False
            raise
        return True

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete a ConfigMap (`configmaps`) or one of our custom resources (in the background); gone is fine."""
        try:
            if plural == "configmaps":
                await self.call(self.core.delete_namespaced_config_map, name, namespace)
            else:
                await self.call(
                    self.custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, plural, name,
                    propagation_policy="Background",
                )  # fmt: skip
        except ApiException as exc:
            if not not_found(exc):
                raise

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any], *, missing_ok: bool = True
    ) -> None:
        """Merge-patch the status subresource of one of our custom resources (a deleted one: nothing to record)."""
        try:
            await self.write(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": dict(status)},
            )
        except ApiException as exc:
            if not (not_found(exc) and missing_ok):
                raise

    def close(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()


def json_object(value: object) -> dict[str, Any]:
    """The custom-objects API's answer, typed: the client declares `object`, the server sends a JSON object."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object from the API, got {type(value).__name__}")
    return value


def direct(fn: Callable[..., T]) -> Callable[..., T]:
    """A generated client method without its pydantic `validate_call` check of the arguments (`raw_function`,
    which pydantic offers for trusted callers): our calls pass well-typed values, and the check cost ~3 % of
    the operator's CPU (a py-spy profile of 300 x 20). Anything else is returned as it is."""
    raw = getattr(fn, "raw_function", None)
    owner = getattr(fn, "__self__", None)
    return functools.partial(raw, owner) if raw is not None and owner is not None else fn


def _unparsed(fn: Callable[..., Any]) -> Callable[..., None]:
    """`fn` (a generated client method) asked for the raw response, which is drained and released.
    Errors still raise `ApiException` with the server's Status body."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        response = direct(fn)(*args, _preload_content=False, **kwargs)
        response.read()
        response.release_conn()

    return run
