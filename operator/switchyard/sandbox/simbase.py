"""The job simulator's plumbing: what a rule returns and sees, the Job watch, the timed worker queue, API calls.

``SimulatorBase`` watches Jobs (raw events, no client models) and runs timed actions on worker threads;
``jobsim.JobSimulator`` is the job controller and kubelet on top of it, its Pods' containers run by an
executor (``executor.py``). A test imports from ``jobsim``.
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import json
import logging
import pathlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

import kubernetes
from kubernetes.client.exceptions import ApiException

from switchyard.sandbox import failedcreate
from switchyard.sandbox.executor import PodExecutor, SimulatedExecutor

logger = logging.getLogger(__name__)

UPSTREAM_DIR = "switchyard/upstream/"
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_PODS = 20  # Pods per Job: a policy that ignores every failure must not replace Pods forever


@dataclass(frozen=True)
class Outcome:
    """How a simulated Job ends. ``None`` fields take the defaults (exit 0/1, default output, sim delay)."""

    succeed: bool = True
    exit_code: int | None = None
    message: str | None = None
    reason: str | None = None
    delay: float | None = None
    # The Pod is gone (garbage-collected, evicted) before the Job is marked complete: no termination message.
    lose_pod: bool = False
    # The Pod never starts: its container waits with this reason (e.g. ImagePullBackOff), or with "NoPod" the
    # Job controller never creates one (e.g. a misspelled service account). The Job stays active.
    waiting: str | None = None
    # The first N Pods of the Job are evicted while running (DisruptionTarget, exit 143); the next runs as above.
    disruptions: int = 0
    # Seconds each Pod stays Pending (scheduling, image pull) before it runs; None: the simulator's ``pending``.
    pending: float | None = None
    # What the container wrote to stdout/stderr: the message under FallbackToLogsOnError when it failed silently.
    log: str | None = None
    # Admission refuses the Pod with this error ({pod}: the Pod's name; see `failedcreate` for real texts): no
    # Pod, a FailedCreate Event on the Job, the rule asked again after a backoff (as the job controller retries).
    refuse: str | None = None


@dataclass(frozen=True)
class SimJob:
    """What a rule sees: the Job, its switchyard labels and the files its Pod would read."""

    name: str
    namespace: str
    workflow: str | None
    node: str | None
    attempt: int | None
    component: str | None
    body: Mapping[str, Any]
    files: Mapping[str, str]


Rule = Callable[[SimJob], Outcome | None]


class Started(NamedTuple):
    job: str
    node: str | None
    attempt: int | None
    at: float  # time.monotonic()
    namespace: str = "default"


class Finished(NamedTuple):
    job: str
    node: str | None
    attempt: int | None
    at: float
    succeeded: bool
    reason: str
    exit_code: int


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_output(job: SimJob) -> str:
    """The default termination message: node, attempt and every upstream file's content."""
    upstream = {
        path[len(UPSTREAM_DIR) :]: content for path, content in job.files.items() if path.startswith(UPSTREAM_DIR)
    }
    return json.dumps({"node": job.node, "attempt": job.attempt, "upstream": upstream}, sort_keys=True)


@dataclass
class Run:
    """One Job as the controller runs it: its current Pod, what was counted; what an executor is given."""

    job: SimJob
    uid: str
    pod_name: str
    outcome: Outcome
    started_at: float
    job_started: float = 0.0  # time.monotonic() of the Job's startTime
    start_time: str = ""  # the Job's startTime as written
    done: bool = False  # the Job is finished (or deleted): nothing more happens to it
    main_done: bool = False  # the current Pod's main container has exited
    running: bool = False  # the current Pod's containers have started
    running_since: str = ""
    mount_waiting: bool = False
    pods: int = 0  # Pods created for the Job
    failed: int = 0  # failed Pods counted toward backoffLimit
    disrupted: int = 0
    image: str = ""
    container: str = "main"
    containers: list[str] = field(default_factory=lambda: ["main"])
    images: list[str] = field(default_factory=lambda: [""])
    policy: str | None = None  # the main container's terminationMessagePolicy
    extra: dict[str, Any] = field(default_factory=dict)  # an executor's own state (the local runner's result)


class SimulatorBase:
    """Threads, the Job watch and API calls; subclasses handle each Job event (``_on_job``).

    ``executor`` runs the containers of each started Pod (default: ``SimulatedExecutor``, by the rule's Outcome).
    """

    def __init__(
        self,
        kubeconfig: str | pathlib.Path,
        *,
        rule: Rule | None = None,
        delay: float = 0.05,
        namespace: str | None = None,
        retries: int = 8,
        workers: int = 4,
        read_files: bool = True,
        pending: float = 0.0,
        sidecars: bool | str = False,
        mount_retry: float = 0.1,
        pod_failure_policy: bool = True,
        configmap_ttl: float = 0.0,
        refuse_backoff: tuple[float, float] = (0.2, 2.0),  # seconds: first retry of a refused Pod, the cap
        executor: PodExecutor | None = None,
    ) -> None:
        self.executor: PodExecutor = executor if executor is not None else SimulatedExecutor()
        self.refuse_backoff = refuse_backoff
        self.kubeconfig = str(kubeconfig)
        self.read_files = read_files  # False: SimJob.files stays empty (no ConfigMap reads; rules that ignore it)
        self.retries = retries
        self.workers = max(1, workers)
        self.rule = rule
        self.delay = delay
        self.namespace = namespace
        self.pending = pending  # seconds every Pod is Pending before it runs (Outcome.pending overrides)
        # a mesh injector adds a proxy container to Pods that do not opt out ("always": to every Pod, as one
        # configured to ignore the opt-outs)
        self.sidecars = sidecars
        self.pod_failure_policy = pod_failure_policy  # False: a cluster that ignores it (before 1.26, feature off)
        self.mount_retry = mount_retry  # seconds between the kubelet's mount attempts of a missing item
        self.configmap_ttl = configmap_ttl  # > 0: the kubelet's ConfigMap cache serves copies this old
        self._configmaps: dict[tuple[str, str], tuple[dict[str, str], float]] = {}
        self.mount_waits: list[str] = []  # Jobs whose Pod waited for a missing ConfigMap or key
        self.disruptions: list[str] = []  # Jobs one of whose Pods was evicted
        self.started: list[Started] = []
        self.finished: list[Finished] = []
        self.deleted: list[str] = []
        self.errors: list[BaseException] = []
        self._runs: dict[str, Run] = {}
        self._lock = threading.RLock()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._queue_cv = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        self._client = kubernetes.config.new_client_from_config(config_file=self.kubeconfig)
        self._batch = kubernetes.client.BatchV1Api(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self.failed_creates = failedcreate.Recorder(
            lambda ns, body: self._call(self._core.create_namespaced_event, ns, body, raw=True),
            lambda name, ns, body: self._call(self._core.patch_namespaced_event, name, ns, body, raw=True),
        )
        self._refuser = failedcreate.Refuser(self.failed_creates, self.schedule, self._start, self.refuse_backoff)
        self.executor.start(self)
        listed = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch_jobs, args=(listed,), name="jobsim-watch", daemon=True),
            *(threading.Thread(target=self._work, name=f"jobsim-worker-{i}", daemon=True) for i in range(self.workers)),
        ]
        for thread in self._threads:
            thread.start()
        listed.wait(timeout=10)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.executor.stop()  # what still runs ends before the threads are joined (a stopped node's containers)
        with self._queue_cv:
            self._queue_cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        if (client := getattr(self, "_client", None)) is not None:  # None when stop() comes before start()
            client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def astart(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    # -- what tests read ----------------------------------------------------------------------------------

    def started_keys(self) -> list[tuple[str, str | None, int | None]]:
        """(job, node, attempt) in start order."""
        with self._lock:
            return [(s.job, s.node, s.attempt) for s in self.started]

    def is_finished(self, job: str) -> bool:
        with self._lock:
            return any(f.job == job for f in self.finished)

    # -- threads ------------------------------------------------------------------------------------------

    def _list_jobs(self) -> Any:
        if self.namespace:
            return self._batch.list_namespaced_job(self.namespace)
        return self._batch.list_job_for_all_namespaces()

    def _watch_jobs(self, listed: threading.Event) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    jobs = self._list_jobs()
                    resource_version = jobs.metadata.resource_version
                    for job in jobs.items:
                        self._on_job("ADDED", self._client.sanitize_for_serialization(job))
                    listed.set()
                list_fn: Callable[..., Any] = (
                    self._batch.list_namespaced_job if self.namespace else self._batch.list_job_for_all_namespaces
                )
                args = (self.namespace,) if self.namespace else ()
                # Raw events (json.loads only): turning each into client models would cost most of our CPU.
                response = list_fn(
                    *args, watch=True, resource_version=resource_version, timeout_seconds=2, _preload_content=False
                )
                try:
                    for line in kubernetes.watch.watch.iter_resp_lines(response):
                        if self._stopping.is_set():
                            break
                        event = json.loads(line)
                        raw = event["object"]
                        if event["type"] == "ERROR":
                            resource_version = None
                            break
                        resource_version = raw["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self._on_job(event["type"], raw)
                finally:
                    response.release_conn()
            except ApiException as e:
                if e.status == 410:
                    resource_version = None
                    continue
                if not self._stopping.is_set():
                    self.record_error(e)
                    time.sleep(0.2)
            except Exception as e:  # keep simulating; tests assert on sim.errors being empty
                if not self._stopping.is_set():
                    self.record_error(e)
                    time.sleep(0.2)

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._queue_cv:
                while not self._stopping.is_set():
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        _, _, action = heapq.heappop(self._queue)
                        break
                    timeout = self._queue[0][0] - now if self._queue else 1.0
                    self._queue_cv.wait(timeout=min(timeout, 1.0))
                else:
                    return
            try:
                action()
            except Exception as e:  # keep simulating; tests assert on sim.errors being empty
                self.record_error(e)

    def schedule(self, due: float, action: Callable[[], None]) -> None:
        with self._queue_cv:
            heapq.heappush(self._queue, (due, next(self._seq), action))
            self._queue_cv.notify_all()

    def record_error(self, error: BaseException) -> None:
        logger.warning("job simulator error: %r", error)
        with self._lock:
            self.errors.append(error)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        """The core/v1 API client (``executor.Host``), once started."""
        return self._core

    # -- the job controller ---------------------------------------------------------------------------------

    def _read_configmap(self, namespace: str) -> Callable[[str], Mapping[str, str] | None]:
        """A ConfigMap as the kubelet sees it: read now, or with ``configmap_ttl`` from its cache (the kubelet's
        ``Cache`` strategy serves a copy up to its TTL old, so a key written since may be missing)."""

        def read(name: str) -> Mapping[str, str] | None:
            key = (namespace, name)
            with self._lock:
                cached = self._configmaps.get(key)
            if cached is not None and time.monotonic() - cached[1] < self.configmap_ttl:
                return cached[0]
            configmap = self._call(self._core.read_namespaced_config_map, name, namespace)
            data = None if configmap is None else dict(configmap.data or {})
            if self.configmap_ttl > 0 and data is not None:
                with self._lock:
                    self._configmaps[key] = (data, time.monotonic())
            return data

        return read

    def _call(self, fn: Callable[..., Any], *args: Any, missing_ok: bool = True, raw: bool = False) -> Any:
        """One API call, retried on 429/5xx like client-go's controllers do; 404 is None when missing_ok.

        ``raw``: the response is not turned into client models (most of the client's CPU); True is returned.
        """
        for attempt in itertools.count():
            try:
                if raw:
                    fn(*args, _preload_content=False).release_conn()
                    return True
                return fn(*args)
            except ApiException as e:
                if e.status == 404 and missing_ok:
                    return None  # deleted meanwhile (usually the ownerReference cascade)
                retriable = e.status == 429 or (e.status is not None and e.status >= 500)
                if not retriable or attempt >= self.retries or self._stopping.is_set():
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    def patch_pod_status(self, run: Run, status: dict[str, Any]) -> None:
        self._call(
            self._core.patch_namespaced_pod_status, run.pod_name, run.job.namespace, {"status": status}, raw=True
        )

    def _patch_job_status(self, run: Run, status: dict[str, Any]) -> None:
        self._call(
            self._batch.patch_namespaced_job_status, run.job.name, run.job.namespace, {"status": status}, raw=True
        )

    def _delete_pod(self, run: Run) -> None:
        self._call(self._core.delete_namespaced_pod, run.pod_name, run.job.namespace, raw=True)

    def _on_job(self, event_type: str, job: dict[str, Any]) -> None:
        raise NotImplementedError

    def _start(self, job: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self, run: Run, deadline_exceeded: bool) -> None:
        raise NotImplementedError
