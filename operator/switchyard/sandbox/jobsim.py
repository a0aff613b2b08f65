"""A kubelet + job-controller stand-in for the emulated cluster: runs batch/v1 Jobs by rule, over real HTTP.

``JobSimulator`` watches Jobs with the kubernetes client. For each new Job it creates the Pod
(``<job>-<5 chars>``, job-name/controller-uid labels, controller ownerReference, the template's spec), marks
the Pod Running and the Job active, then after a delay finishes both as the test's ``rule`` says: the Pod's
``containerStatuses[0].state.terminated`` first, then the Job status with the conditions a real job
controller sets (``SuccessCriteriaMet`` + ``Complete``; ``FailureTarget`` + ``Failed`` with
``BackoffLimitExceeded``, or ``DeadlineExceeded`` when ``spec.activeDeadlineSeconds`` runs out first).
Deleting a Job cancels it and deletes its Pod. ``backoffLimit`` is treated as 0 (one Pod per Job).

With no rule (or an Outcome without a message), a successful Pod's termination message is
``{"node": NODE, "attempt": N, "upstream": {UPSTREAM: <content of /switchyard/upstream/UPSTREAM>}}``, the files
read as the Pod would see them (``volumes.materialize``).

Threaded: ``with JobSimulator(kubeconfig) as sim:`` or ``start()``/``stop()``. Async: ``async with`` (or
``await astart()``/``astop()``), which runs the same threads without blocking the loop.
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import json
import logging
import pathlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import kubernetes
from kubernetes.client.rest import ApiException

from switchyard.sandbox import failedcreate
from switchyard.sandbox.volumes import VolumeError, materialize

logger = logging.getLogger(__name__)

LABEL_WORKFLOW = "switchyard.dev/workflow"
LABEL_NODE = "switchyard.dev/node"
LABEL_ATTEMPT = "switchyard.dev/attempt"
LABEL_COMPONENT = "switchyard.dev/component"
UPSTREAM_DIR = "switchyard/upstream/"
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


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
class _Run:
    job: SimJob
    uid: str
    pod_name: str
    outcome: Outcome
    started_at: float
    done: bool = False
    image: str = ""
    container: str = "main"
    extra: dict[str, Any] = field(default_factory=dict)


class JobSimulator:
    """See the module docstring. ``rule`` may be replaced at any time (``sim.rule = ...``)."""

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
        refuse_backoff: tuple[float, float] = (0.2, 2.0),  # seconds: first retry of a refused Pod, the cap
    ) -> None:
        self.refuse_backoff = refuse_backoff
        self.kubeconfig = str(kubeconfig)
        self.read_files = read_files  # False: SimJob.files stays empty (no ConfigMap reads; rules that ignore it)
        self.retries = retries
        self.workers = max(1, workers)
        self.rule = rule
        self.delay = delay
        self.namespace = namespace
        self.started: list[Started] = []
        self.finished: list[Finished] = []
        self.deleted: list[str] = []
        self.errors: list[BaseException] = []
        self._runs: dict[str, _Run] = {}
        self._lock = threading.RLock()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._queue_cv = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> JobSimulator:
        self._stopping.clear()
        self._client = kubernetes.config.new_client_from_config(config_file=self.kubeconfig)
        self._batch = kubernetes.client.BatchV1Api(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self.failed_creates = failedcreate.Recorder(
            lambda ns, body: self._call(self._core.create_namespaced_event, ns, body, raw=True),
            lambda name, ns, body: self._call(self._core.patch_namespaced_event, name, ns, body, raw=True),
        )
        self._refuser = failedcreate.Refuser(self.failed_creates, self._schedule, self._start, self.refuse_backoff)
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
        with self._queue_cv:
            self._queue_cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        if (client := getattr(self, "_client", None)) is not None:  # None when stop() comes before start()
            client.close()

    def __enter__(self) -> JobSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def astart(self) -> JobSimulator:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> JobSimulator:
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
                list_fn = self._batch.list_namespaced_job if self.namespace else self._batch.list_job_for_all_namespaces
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
                    self._record_error(e)
                    time.sleep(0.2)
            except Exception as e:  # keep simulating; tests assert on sim.errors being empty
                if not self._stopping.is_set():
                    self._record_error(e)
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
                self._record_error(e)

    def _schedule(self, due: float, action: Callable[[], None]) -> None:
        with self._queue_cv:
            heapq.heappush(self._queue, (due, next(self._seq), action))
            self._queue_cv.notify_all()

    def _record_error(self, error: BaseException) -> None:
        logger.warning("job simulator error: %r", error)
        with self._lock:
            self.errors.append(error)

    # -- the job controller ---------------------------------------------------------------------------------

    def _on_job(self, event_type: str, job: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]
        if event_type == "DELETED":
            self._refuser.forget(uid)
            with self._lock:
                run = self._runs.get(uid)
                if run is not None and not run.done:
                    run.done = True
                    self.deleted.append(job["metadata"]["name"])
                    self._schedule(time.monotonic(), lambda: self._delete_pod(run))
            if run is not None:
                self._cancel(run)
            return
        with self._lock:
            if uid in self._runs:
                return
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed") or status.get("active"):
                return  # finished or run by an earlier simulator
            self._runs[uid] = None  # type: ignore[assignment]  # reserved until the start action runs
        self._schedule(time.monotonic(), lambda: self._start(job))

    def _cancel(self, run: _Run) -> None:
        """The Job was deleted: stop what runs for it (nothing here: a timer that finds ``run.done``)."""

    def _read_configmap(self, namespace: str) -> Callable[[str], Mapping[str, str] | None]:
        def read(name: str) -> Mapping[str, str] | None:
            configmap = self._call(self._core.read_namespaced_config_map, name, namespace)
            return None if configmap is None else configmap.data or {}

        return read

    def _start(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
        labels = meta.get("labels") or {}
        template = (job.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        pod_spec = template.get("spec") or {}
        pod_name = f"{name}-{''.join(random.choices(_SUFFIX_ALPHABET, k=5))}"
        pod_labels = {
            **(template_meta.get("labels") or {}),
            "batch.kubernetes.io/job-name": name,
            "job-name": name,
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        }
        pod_meta = {
            "name": pod_name,
            "namespace": namespace,
            "labels": pod_labels,
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        files: Mapping[str, str] = {}
        try:
            if self.read_files:
                files = materialize(pod_spec, pod_meta, self._read_configmap(namespace))
        except VolumeError as e:
            self._record_error(e)
        attempt = labels.get(LABEL_ATTEMPT)
        sim_job = SimJob(
            name=name,
            namespace=namespace,
            workflow=labels.get(LABEL_WORKFLOW),
            node=labels.get(LABEL_NODE),
            attempt=int(attempt) if attempt is not None and str(attempt).isdigit() else None,
            component=labels.get(LABEL_COMPONENT),
            body=job,
            files=files,
        )
        rule = self.rule
        outcome = (rule(sim_job) if rule is not None else None) or Outcome()
        containers = pod_spec.get("containers") or [{}]
        if outcome.refuse is not None:
            refused = outcome.refuse.replace("{namespace}", namespace)
            self._refuser.refuse(job, refused.replace("{pod}", pod_name), refused)
            return
        self._refuser.created(uid)
        if outcome.waiting == "NoPod":
            return  # the Job controller cannot create the Pod; the Job stays active until someone deletes it
        pod = {"metadata": pod_meta, "spec": {**pod_spec, "nodeName": "sim"}}
        if self._call(self._core.create_namespaced_pod, namespace, pod, raw=True) is None:
            return  # the Job's namespace is going away
        if outcome.waiting is not None:
            waiting = {"reason": outcome.waiting, "message": f"simulated: {outcome.waiting}"}
            status = {
                "name": containers[0].get("name", "main"),
                "ready": False,
                "restartCount": 0,
                "image": containers[0].get("image", ""),
                "imageID": "",
                "state": {"waiting": waiting},
            }
            pending = {"phase": "Pending", "containerStatuses": [status]}
            self._call(self._core.patch_namespaced_pod_status, pod_name, namespace, {"status": pending}, raw=True)
            return
        now = _now()
        started_at = time.monotonic()
        run = _Run(
            job=sim_job,
            uid=uid,
            pod_name=pod_name,
            outcome=outcome,
            started_at=started_at,
            image=containers[0].get("image", ""),
            container=containers[0].get("name", "main"),
        )
        with self._lock:
            self._runs[uid] = run
            self.started.append(Started(name, sim_job.node, sim_job.attempt, started_at, namespace))
        running = {
            "phase": "Running",
            "startTime": now,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": run.container,
                    "image": run.image,
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
        self._patch_pod_status(run, self._running_pod_status(run, running))
        self._patch_job_status(run, {"startTime": now, "active": 1, "ready": 1, "uncountedTerminatedPods": {}})
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        self._launch(run, float(deadline) if deadline is not None else None)

    def _running_pod_status(self, run: _Run, status: dict[str, Any]) -> dict[str, Any]:
        """The Pod status written when the run starts (a hook: the local runner shows its init containers)."""
        return status

    def _final_pod_status(self, run: _Run, status: dict[str, Any]) -> dict[str, Any]:
        """The Pod status written when the run ends (a hook: the local runner records every container)."""
        return status

    def _launch(self, run: _Run, deadline: float | None) -> None:
        """Finish a started run (Pod Running, Job active): after its outcome's delay, or at the deadline.

        The hook for runners that decide the outcome by really running the container (``runner.py``): they
        set ``run.outcome`` when it ends and call ``_finish``.
        """
        delay = run.outcome.delay if run.outcome.delay is not None else self.delay
        if deadline is not None and deadline < delay:
            self._schedule(run.started_at + deadline, lambda: self._finish(run, deadline_exceeded=True))
        else:
            self._schedule(run.started_at + delay, lambda: self._finish(run, deadline_exceeded=False))

    def _finish(self, run: _Run, deadline_exceeded: bool) -> None:
        with self._lock:
            if run.done:
                return
            run.done = True
        outcome = run.outcome
        now = _now()
        if deadline_exceeded:
            succeeded, exit_code, reason, message = False, 143, "Error", ""
            job_reason, job_message = "DeadlineExceeded", "Job was active longer than specified deadline"
        elif outcome.succeed:
            succeeded = True
            exit_code = outcome.exit_code if outcome.exit_code is not None else 0
            reason = outcome.reason or "Completed"
            message = outcome.message if outcome.message is not None else default_output(run.job)
            job_reason, job_message = "CompletionsReached", "Reached expected number of succeeded pods"
        else:
            succeeded = False
            exit_code = outcome.exit_code if outcome.exit_code is not None else 1
            reason = outcome.reason or "Error"
            message = outcome.message or ""
            job_reason, job_message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "message": message,
            "startedAt": now,
            "finishedAt": now,
            "containerID": f"sim://{run.pod_name}",
        }
        pod_status: dict[str, Any] = {
            "phase": "Succeeded" if succeeded else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": run.container,
                    "image": run.image,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"running": None, "terminated": terminated},
                }
            ],
        }
        if deadline_exceeded:
            pod_status["reason"] = "DeadlineExceeded"
            pod_status["message"] = "Pod was active on the node longer than the specified deadline"
        if succeeded and outcome.lose_pod:
            self._delete_pod(run)
        else:
            self._patch_pod_status(run, self._final_pod_status(run, pod_status))
        first, final = ("SuccessCriteriaMet", "Complete") if succeeded else ("FailureTarget", "Failed")
        job_status: dict[str, Any] = {
            "active": 0,
            "ready": 0,
            "terminating": 0,
            "succeeded" if succeeded else "failed": 1,
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": job_reason,
                    "message": job_message,
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                }
                for condition in (first, final)
            ],
        }
        if succeeded:
            job_status["completionTime"] = now
        self._patch_job_status(run, job_status)
        with self._lock:
            self.finished.append(
                Finished(run.job.name, run.job.node, run.job.attempt, time.monotonic(), succeeded, reason, exit_code)
            )

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

    def _patch_pod_status(self, run: _Run, status: dict[str, Any]) -> None:
        self._call(
            self._core.patch_namespaced_pod_status, run.pod_name, run.job.namespace, {"status": status}, raw=True
        )

    def _patch_job_status(self, run: _Run, status: dict[str, Any]) -> None:
        self._call(
            self._batch.patch_namespaced_job_status, run.job.name, run.job.namespace, {"status": status}, raw=True
        )

    def _delete_pod(self, run: _Run) -> None:
        self._call(self._core.delete_namespaced_pod, run.pod_name, run.job.namespace, raw=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m switchyard.sandbox.jobsim``: a simulator in its own process (own interpreter lock) until SIGTERM.

    Each Job finishes after ``--delays`` (a JSON file ``{node: seconds}``, default 0) with ``--message`` as its
    output. Prints ``ready`` once watching; on SIGTERM writes ``--record`` (JSON: started, finished, errors,
    times from ``time.monotonic()``, which all processes of the machine share). See ``process.SimulatorProcess``.
    """
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description="the job simulator in its own process")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace")
    parser.add_argument("--delays", help="JSON file {node: seconds}")
    parser.add_argument("--message", default=None, help="every Job's output (default: the simulator's)")
    parser.add_argument("--user-agent", default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--record", required=True, help="where to write started/finished/errors on exit")
    args = parser.parse_args(argv)
    delays: dict[str, float] = json.loads(pathlib.Path(args.delays).read_text()) if args.delays else {}

    def rule(job: SimJob) -> Outcome:
        return Outcome(delay=delays.get(job.node or "", 0.0), message=args.message)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim = JobSimulator(
        args.kubeconfig,
        namespace=args.namespace,
        rule=rule,
        delay=0.0,
        workers=args.workers,
        read_files=args.message is None,  # a fixed output needs no upstream files: no ConfigMap reads
    )
    sim.start()
    if args.user_agent:
        sim._client.user_agent = args.user_agent
    print("ready", flush=True)
    stop.wait()
    sim.stop()
    with sim._lock:
        record = {
            "started": [list(s) for s in sim.started],
            "finished": [list(f) for f in sim.finished],
            "errors": [repr(e) for e in sim.errors],
        }
    pathlib.Path(args.record).write_text(json.dumps(record))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
