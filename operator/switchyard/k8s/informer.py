"""The Jobs and Pods of Switchyard workflows, as runners read them: small summaries kept by list + watch.

kopf ran every Job and Pod watch event through its handler framework (cause detection, handler kwargs, an
object logger, progress state, a per-object worker): about half of the operator's CPU per Job, for six or
more events per Job, and a per-object memory that stayed for the life of each Job. These two resources
only ever feed read-only summaries (`observe.job_entry`, `observe.pod_entry`), so they get a plain
informer instead, as client-go's shared informers do for controllers:

- one thread per resource and watched namespace (cluster-wide: one per resource) lists the labelled
  objects in pages of `PAGE_SIZE` (`limit`/`continue`: at 20,000 Pods one unpaged list is a body of
  100+ MB decoded at once; a page at a time is digested and dropped), then watches from the list's
  resourceVersion through the kubernetes client's `Watch` (raw events, never client models), resuming
  after each server timeout from the last version seen, a bookmark's included (the API server sends one
  now and then when asked, so the version stays recent while only other objects change);
- 410 Gone (the version, or a page's continue token, is too old) or any error: list again (after a capped
  backoff on errors); the store is replaced by the new list, and objects missing from it count as deleted;
- every change is applied on the event loop, where the stores live and are read, and the owning
  workflow's runner is told which Job has news for it (`on_change`; `Store.put`). The threads queue their
  changes in order and wake the loop once for all that queued while it was busy (`ListWatch.hand`), not
  once per event;
- `synced` is set once every thread has listed: runners wait for it, as kopf's indexes guaranteed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import CONNECT_TIMEOUT
from switchyard.k8s.client import READ_TIMEOUT as CALL_TIMEOUT
from switchyard.k8s.entries import job_entry, pod_entry
from switchyard.k8s.errors import forbidden, gone
from switchyard.kopfcompat import matches_namespace, specific_namespaces
from switchyard.models.labels import LABEL_WORKFLOW

log = logging.getLogger("switchyard.informer")

WATCH_SECONDS = 300  # the server ends each watch after this; the informer resumes from the last version
READ_TIMEOUT = 330  # no byte for this long on a watch: the connection is dead, list again
PAGE_SIZE = 500  # objects per list page (client-go's reflector pages by 500 too)
BACKOFFS = (1.0, 2.0, 5.0, 10.0)  # after errors in a row
OnChange = Callable[[str, str, str], None]  # (namespace, workflow, job)


def serves(namespace: str, patterns: Iterable[str]) -> bool:
    """Whether `--namespace` patterns take in this namespace, by kopf's own rule (globs, comma lists, `!`)."""
    return any(matches_namespace(namespace, pattern) for pattern in patterns)


def exact_names(patterns: list[str]) -> bool:
    """Plain names only (kopf's rule, and no `[...]` set, which its globs match but no namespace name holds):
    then each gets its own watch."""
    specific = specific_namespaces(patterns)
    return bool(patterns) and len(specific) == len(set(patterns)) and not any("[" in name for name in specific)


@dataclass(frozen=True)
class Summary:
    key: tuple[str, str]  # the store key: (namespace, Job name)
    name: str  # the object's own name (a Job's, or a Pod's)
    entry: Any  # JobEntry or PodEntry
    workflow: str  # the owning workflow, whose runner is told


def job_summary(body: dict[str, Any]) -> Summary | None:
    entry = job_entry(body)
    if entry is None:
        return None
    namespace = body["metadata"].get("namespace", "")
    return Summary((namespace, entry.name), entry.name, entry, entry.workflow)


def pod_summary(body: dict[str, Any]) -> Summary | None:
    entry = pod_entry(body)
    if entry is None or not entry.workflow:
        return None
    meta = body["metadata"]
    return Summary((meta.get("namespace", ""), entry.job), meta["name"], entry, entry.workflow)


class Store:
    """(namespace, Job name) -> the summaries of the objects under that key (a Job; the Pods of a Job).

    Reads like a kopf index (`in`, `[key]` iterates the values), so `runtime.Views` takes either."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_workflow: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (namespace, workflow) -> keys

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __getitem__(self, key: tuple[str, str]) -> Iterator[Any]:
        return iter(list(self.items[key].values()))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return sum(len(objects) for objects in self.items.values())

    def put(self, summary: Summary) -> bool:
        """Store it; True when it is news to a runner (`is_news` of `observe.JobEntry` and `PodEntry`).

        About 6 watch events per Job reach the informer; a runner acts on 2 of them (the Job finished, its Pod
        terminated). Waking it for the rest made ~80 % of its passes find nothing (1,000 x 20 bench)."""
        objects = self.items.setdefault(summary.key, {})
        old = objects.get(summary.name)
        changed = bool(summary.entry.is_news(old))
        objects[summary.name] = summary.entry
        self.by_workflow.setdefault((summary.key[0], summary.workflow), set()).add(summary.key)
        return changed

    def drop(self, key: tuple[str, str], name: str) -> bool:
        objects = self.items.get(key)
        if objects is None or (entry := objects.pop(name, None)) is None:
            return False
        if not objects:
            del self.items[key]
            self._unindex(key, entry.workflow)
        return True

    def keys_of(self, namespace: str, workflow: str) -> set[tuple[str, str]]:
        """The keys holding objects of the workflows named `workflow` (a deleted namesake's included)."""
        return set(self.by_workflow.get((namespace, workflow), ()))

    def drop_key(self, key: tuple[str, str]) -> None:
        """Forget everything under `key` (e.g. a finished Workflow's Job, or that Job's Pods)."""
        objects = self.items.pop(key, None)
        if objects:
            self._unindex(key, next(iter(objects.values())).workflow)

    def _unindex(self, key: tuple[str, str], workflow: str) -> None:
        keys = self.by_workflow.get((key[0], workflow))
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_workflow[(key[0], workflow)]


class ListWatch:
    """The watch threads: list, then watch from the list's resourceVersion, forever (see the module doc).

    Subclasses say what to list (`list_all`, `list_in`, `label_selector`), digest each object in the watch
    thread (`digest`: None drops it) and take the digests on the event loop: `listed(scope, digests)` after
    each (re)list, `changed(deleted, digest)` for each watch event."""

    label_selector: str | None = None
    optional = False  # True: a 403 (no RBAC to list) ends the watch with one warning instead of retrying forever

    def __init__(
        self,
        kind: str,
        list_all: Callable[..., Any],
        list_in: Callable[..., Any] | None,
        scopes: list[str | None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.kind = kind
        self.list_all, self.list_in = list_all, list_in
        self.scopes = scopes
        self.loop = loop
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.watches: list[watch.Watch] = []
        self.watch_seconds = WATCH_SECONDS
        self.page_size = PAGE_SIZE
        self.lists = 0  # lists so far (the first, then one after each expiry or error), each of one or more pages
        self.watched = 0  # watch requests so far
        self.versions: dict[str | None, str] = {}  # scope -> the resourceVersion its watch resumes from
        self._handed: collections.deque[tuple[Callable[..., None], tuple[Any, ...]]] = collections.deque()
        self._handing = threading.Lock()
        self._drain_due = False
        self.wakeups = 0  # times the loop was woken to apply queued changes

    def hand(self, fn: Callable[..., None], *args: Any) -> None:
        """From a watch thread: run `fn(*args)` on the event loop, after everything handed before it.

        Each `call_soon_threadsafe` writes to the loop's wake-up pipe and costs the loop a wake-up; six or more
        watch events per Job each paid that. Now one call drains whatever queued until the loop got to it."""
        with self._handing:
            self._handed.append((fn, args))
            if self._drain_due:
                return
            self._drain_due = True
        self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._handing:
            batch = list(self._handed)
            self._handed.clear()
            self._drain_due = False
        self.wakeups += 1
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:  # as the loop does for each callback: one bad change does not drop the rest
                log.exception("%s: applying a watched change failed", self.kind)

    def start(self) -> None:
        for scope in self.scopes:
            thread = threading.Thread(
                target=self._run, args=(scope,), name=f"informer-{self.kind}-{scope or 'all'}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for stream in list(self.watches):
            stream.stop()

    def digest(self, body: dict[str, Any]) -> Any | None:
        """In the watch thread: what the event loop gets of one object (None: nothing)."""
        raise NotImplementedError

    def listed(self, scope: str | None, digests: list[Any]) -> None:
        """On the event loop: a fresh list of `scope`."""
        raise NotImplementedError

    def changed(self, deleted: bool, digest: Any) -> None:
        """On the event loop: one watch event (ADDED, MODIFIED or DELETED)."""
        raise NotImplementedError

    # -- the watch thread --------------------------------------------------------------------------

    def _run(self, scope: str | None) -> None:
        errors = 0
        while not self.stopping.is_set():
            try:
                version = self._list(scope)
                errors = 0
                while not self.stopping.is_set():
                    version = self._watch(scope, version)
            except ApiException as exc:
                if self.stopping.is_set():
                    return  # stop() closed the watch under us
                if forbidden(exc) and self.optional:
                    log.warning("%s: not allowed to list (HTTP 403); going on without this watch", self.kind)
                    return
                if gone(exc):
                    log.debug("%s watch in %s expired; listing again", self.kind, scope or "all namespaces")
                    continue
                errors += 1
                log.warning("%s watch in %s failed: HTTP %s %s", self.kind, scope or "all", exc.status, exc.reason)
            except Exception as exc:  # a dropped connection, a timeout, a bad line: list again
                if self.stopping.is_set():
                    return  # stop() closed the watch under us: not a failure
                errors += 1
                log.warning("%s watch in %s failed: %s: %s", self.kind, scope or "all", type(exc).__name__, exc)
            self.stopping.wait(BACKOFFS[min(errors, len(BACKOFFS)) - 1] if errors else 0)

    def _scope_args(self, scope: str | None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (self.list_all, ()) if scope is None or self.list_in is None else (self.list_in, (scope,))

    def _selector(self) -> dict[str, str]:
        return {"label_selector": self.label_selector} if self.label_selector else {}

    def _list(self, scope: str | None) -> str:
        """List `scope` page by page (all pages at the first one's resourceVersion); that version."""
        self.lists += 1
        digests: list[Any] = []
        token: str | None = None
        while True:
            meta = self._page(scope, token, digests)
            token = meta.get("continue")
            if not token:
                break
        self.hand(self.listed, scope, digests)
        self.versions[scope] = str(meta["resourceVersion"])
        return self.versions[scope]

    def _page(self, scope: str | None, token: str | None, digests: list[Any]) -> dict[str, Any]:
        """One page: its objects' digests onto `digests`, its metadata returned. The page's body and its
        decoded objects go when this returns, before the next page is read."""
        fn, args = self._scope_args(scope)
        more = {"_continue": token} if token else {}
        response = fn(
            *args,
            **self._selector(),
            **more,
            limit=self.page_size,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, CALL_TIMEOUT),
        )
        try:
            listing = orjson.loads(response.data)
        finally:
            response.release_conn()
        digests.extend(d for item in listing.get("items") or [] if (d := self.digest(item)) is not None)
        meta: dict[str, Any] = listing.get("metadata") or {}
        return meta

    def _watch(self, scope: str | None, version: str) -> str:
        fn, args = self._scope_args(scope)
        stream = FastWatch()
        self.watches.append(stream)
        if self.stopping.is_set():  # stop() came after the loop's check but before the append: cut it now
            stream.stop()
        self.watched += 1
        try:
            for event in stream.stream(
                fn,
                *args,
                **self._selector(),
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_seconds,
                _request_timeout=(10, READ_TIMEOUT),
            ):
                if event is None:  # a blank line
                    continue
                body = event["object"]
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                self.versions[scope] = version  # a BOOKMARK's too: nothing else to do with one
                if event["type"] in ("ADDED", "MODIFIED", "DELETED") and (digest := self.digest(body)) is not None:
                    self.hand(self.changed, event["type"] == "DELETED", digest)
                if self.stopping.is_set():
                    break
        finally:
            self.watches.remove(stream)
        return version


class FastWatch(watch.Watch):
    """The client's `Watch`, decoding each event line with orjson into plain dicts: about 2.5x faster than
    `json` on a Job or Pod, which was ~8 % of the operator's CPU (six such events per Job).

    No client models: the return type is None, so the client hands each line to `unmarshal_event` (with
    `deserialize=False` it would call `json.loads` itself and never reach this class)."""

    def get_return_type(self, func: Any) -> None:
        return None

    def __init__(self) -> None:
        super().__init__()
        self.cut = False

    def stream(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The client's stream, its response cut at once when `stop` came before the response did (the client
        resets its own stop flag when a stream starts, so a stop between two watches was lost)."""

        @functools.wraps(func)  # the client reads the function's signature and docstring
        def opened(*call_args: Any, **call_kwargs: Any) -> Any:
            response = func(*call_args, **call_kwargs)
            self._resp = response
            if self.cut:
                _shutdown(response)
            return response

        return super().stream(opened, *args, **kwargs)  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Also cut the open response (the client's `stop` only takes effect at the next event, so a quiet
        watch kept its thread and connection until the server's timeout, minutes after the informer stopped)."""
        self.cut = True
        super().stop()
        response = getattr(self, "_resp", None)
        if response is not None:
            _shutdown(response)

    def unmarshal_event(self, data: str, return_type: Any) -> dict[str, Any] | None:
        if return_type:
            return super().unmarshal_event(data, return_type)  # type: ignore[no-any-return]
        if not data or data.isspace():
            return None
        # A line that does not decode raises (the client would yield None and go on): an event was lost, so
        # the informer lists again rather than keep a store that misses it.
        event: dict[str, Any] = orjson.loads(data)
        event["raw_object"] = event["object"]
        return event


def _shutdown(response: Any) -> None:
    """Interrupt a response another thread is reading (urllib3's `shutdown`, 2.3+)."""
    with contextlib.suppress(Exception):  # already closed or finished: nothing left to cut
        response.shutdown()


class Informer(ListWatch):
    """List + watch of one resource (Jobs or Pods with the workflow label) into a `Store`."""

    label_selector = LABEL_WORKFLOW

    def __init__(
        self,
        api_client: client.ApiClient,
        kind: str,
        namespaces: list[str],
        on_change: OnChange,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        if kind == "jobs":
            api: Any = client.BatchV1Api(api_client)
            self.summarize: Callable[[dict[str, Any]], Summary | None] = job_summary
            list_all, list_in = api.list_job_for_all_namespaces, api.list_namespaced_job
        else:
            api = client.CoreV1Api(api_client)
            self.summarize = pod_summary
            list_all, list_in = api.list_pod_for_all_namespaces, api.list_namespaced_pod
        # Exact names: one watch each. Patterns (kopf's globs): one cluster-wide watch, filtered here.
        exact = exact_names(namespaces)
        super().__init__(kind, list_all, list_in, list(namespaces) if exact else [None], loop)
        self.api_client = api_client
        self.store = Store()
        self.on_change = on_change
        self.patterns = [] if exact else list(namespaces)
        self.listed_scopes: set[str | None] = set()
        self.synced = asyncio.Event()

    def digest(self, body: dict[str, Any]) -> Summary | None:
        if self.patterns and not serves(body["metadata"].get("namespace", ""), self.patterns):
            return None
        return self.summarize(body)

    # -- on the event loop -------------------------------------------------------------------------

    def changed(self, deleted: bool, digest: Summary) -> None:
        changed = self.store.drop(digest.key, digest.name) if deleted else self.store.put(digest)
        if changed:
            self.on_change(digest.key[0], digest.workflow, digest.key[1])

    def listed(self, scope: str | None, digests: list[Summary]) -> None:
        """A fresh list of `scope`: what it lacks was deleted while the watch was not looking."""
        fresh = {(s.key, s.name) for s in digests}
        for key in [k for k in self.store.items if scope is None or k[0] == scope]:
            for name, entry in list(self.store.items[key].items()):
                if (key, name) not in fresh:
                    self.store.drop(key, name)
                    self.on_change(key[0], entry.workflow, key[1])
        for summary in digests:
            self.changed(False, summary)
        self.listed_scopes.add(scope)
        if len(self.listed_scopes) == len(self.scopes):
            self.synced.set()
