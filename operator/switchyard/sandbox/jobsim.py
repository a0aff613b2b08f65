"""A kubelet + job-controller stand-in for the emulated cluster: runs batch/v1 Jobs by rule, over real HTTP.

``JobSimulator`` watches Jobs with the kubernetes client. For each new Job it sets ``startTime`` (the start of
``activeDeadlineSeconds``) and creates a Pod (``<job>-<5 chars>``, job-name/controller-uid labels, controller
ownerReference, the ``batch.kubernetes.io/job-tracking`` finalizer, the template's spec with the API server's
defaults). The Pod is Pending (``ContainerCreating``) for ``pending`` seconds and while a required ConfigMap
or key of its volumes is missing (the kubelet retries the mount), then Running, then after a delay ends as the
test's ``rule`` says: the Pod's ``state.terminated`` first (the message cut as the kubelet cuts it,
``kubelet.termination_message``), then the Job status in two writes as a 1.31+ controller does
(``SuccessCriteriaMet``/``FailureTarget`` with the counts, the Pod's finalizer removed, then
``Complete``/``Failed``: ``BackoffLimitExceeded``, ``PodFailurePolicy`` or ``DeadlineExceeded``). A failed
Pod goes through the Job's ``podFailurePolicy`` (``Ignore``: a replacement Pod, not counted) and
``backoffLimit`` (absent: 0, where a real API server defaults 6). ``Outcome(disruptions=N)`` evicts the first N
Pods of a Job (Failed, ``DisruptionTarget``, exit 143); ``sidecars=True`` injects a proxy container into Pods
whose template does not opt out (``kubelet.SIDECAR_OPT_OUTS``), which keeps the Pod Running after the main
container exits. ``Outcome(refuse=ERROR)``: admission refuses the Pod (``failedcreate``): no Pod, a
``FailedCreate`` Event on the Job, the rule asked again after a backoff. Deleting a Job cancels it, releases
and deletes its Pod.

With no rule (or an Outcome without a message), a successful Pod's termination message is
``{"node": NODE, "attempt": N, "upstream": {UPSTREAM: <content of /switchyard/upstream/UPSTREAM>}}``, the files
read as the Pod would see them (``volumes.materialize``).

The containers of a started Pod are run by ``executor`` (``executor.PodExecutor``): by default
``SimulatedExecutor``, which ends each after its Outcome's delay; the local runner's really runs them.

Threaded: ``with JobSimulator(kubeconfig) as sim:`` or ``start()``/``stop()``. Async: ``async with`` (or
``await astart()``/``astop()``), which runs the same threads without blocking the loop.
"""

from __future__ import annotations

import json
import pathlib
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from switchyard.models.labels import LABEL_ATTEMPT, LABEL_COMPONENT, LABEL_NODE, LABEL_WORKFLOW
from switchyard.sandbox.kubelet import (
    JOB_TRACKING_FINALIZER,
    opted_out_of_injection,
    pod_conditions,
    pod_failure_action,
    pod_spec_defaults,
    sidecar_container,
    termination_message,
)
from switchyard.sandbox.simbase import (
    _SUFFIX_ALPHABET,
    MAX_PODS,
    Finished,
    Outcome,
    Rule,
    Run,
    SimJob,
    SimulatorBase,
    Started,
    _now,
    default_output,
)
from switchyard.sandbox.volumes import VolumeError, materialize

__all__ = ["Finished", "JobSimulator", "Outcome", "Rule", "SimJob", "Started", "default_output", "main"]


class JobSimulator(SimulatorBase):
    """See the module docstring. ``rule`` may be replaced at any time (``sim.rule = ...``)."""

    def _on_job(self, event_type: str, job: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]
        if event_type == "DELETED":
            self._refuser.forget(uid)
            with self._lock:
                run = self._runs.get(uid)
                if run is not None and not run.done:
                    run.done = True
                    self.deleted.append(job["metadata"]["name"])
                    self.schedule(time.monotonic(), lambda: self._orphaned(run))
            if run is not None:
                self.executor.cancel(run)
            return
        with self._lock:
            if uid in self._runs:
                return
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed") or status.get("active"):
                return  # finished or run by an earlier simulator
            self._runs[uid] = None  # type: ignore[assignment]  # reserved until the start action runs
        self.schedule(time.monotonic(), lambda: self._start(job))

    def _start(self, job: dict[str, Any]) -> None:
        """The job controller's first sync of a new Job: startTime, the deadline timer, then the first Pod."""
        meta = job["metadata"]
        name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
        labels = meta.get("labels") or {}
        spec = job.get("spec") or {}
        template = spec.get("template") or {}
        attempt = labels.get(LABEL_ATTEMPT)
        sim_job = SimJob(
            name=name,
            namespace=namespace,
            workflow=labels.get(LABEL_WORKFLOW),
            node=labels.get(LABEL_NODE),
            attempt=int(attempt) if attempt is not None and str(attempt).isdigit() else None,
            component=labels.get(LABEL_COMPONENT),
            body=job,
            files=self._files(template, {**(template.get("metadata") or {}), "namespace": namespace}) or {},
        )
        rule = self.rule
        outcome = (rule(sim_job) if rule is not None else None) or Outcome()
        if outcome.refuse is not None:
            refused = outcome.refuse.replace("{namespace}", namespace)
            pod_name = f"{name}-{''.join(random.choices(_SUFFIX_ALPHABET, k=5))}"  # each try names a new Pod
            self._refuser.refuse(job, refused.replace("{pod}", pod_name), refused)
            return
        self._refuser.created(uid)
        if outcome.waiting == "NoPod":
            return  # the Job controller cannot create the Pod; the Job stays active until someone deletes it
        run = Run(job=sim_job, uid=uid, pod_name="", outcome=outcome, started_at=0.0, job_started=time.monotonic())
        run.start_time = _now()
        with self._lock:
            self._runs[uid] = run
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:  # counted from the Job's startTime, Pending and image pulls included
            self.schedule(run.job_started + float(deadline), lambda: self._deadline(run))
        self._new_pod(run)

    def _files(self, template: Mapping[str, Any], pod_meta: Mapping[str, Any]) -> Mapping[str, str] | None:
        """The files the Pod's container would see; None while a required ConfigMap or key is missing."""
        if not self.read_files:
            return {}
        try:
            return materialize(template.get("spec") or {}, pod_meta, self._read_configmap(pod_meta["namespace"]))
        except VolumeError:
            return None

    def _new_pod(self, run: Run) -> None:
        """Create the Job's next Pod (the first, or a replacement) and bring it up as the kubelet would."""
        job = run.job
        template = (job.body.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        pod_spec = dict(template.get("spec") or {})
        if self.sidecars == "always" or (
            self.sidecars and not opted_out_of_injection(template_meta)
        ):  # a webhook adds a proxy
            pod_spec["containers"] = [*(pod_spec.get("containers") or []), sidecar_container()]
        run.pod_name = f"{job.name}-{''.join(random.choices(_SUFFIX_ALPHABET, k=5))}"
        run.pods += 1
        run.running = run.main_done = run.mount_waiting = False
        pod_labels = {
            **(template_meta.get("labels") or {}),
            "batch.kubernetes.io/job-name": job.name,
            "job-name": job.name,
            "controller-uid": run.uid,
            "batch.kubernetes.io/controller-uid": run.uid,
        }
        pod_meta = {
            "name": run.pod_name,
            "namespace": job.namespace,
            "labels": pod_labels,
            "annotations": dict(template_meta.get("annotations") or {}),
            "finalizers": [JOB_TRACKING_FINALIZER],  # the controller counts the Pod, then lets it go
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job.name,
                    "uid": run.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        containers = pod_spec.get("containers") or [{}]
        run.image = containers[0].get("image", "")
        run.container = containers[0].get("name", "main")
        run.containers = [c.get("name", "main") for c in containers]
        run.images = [c.get("image", "") for c in containers]
        run.policy = containers[0].get("terminationMessagePolicy")
        pod = {"metadata": pod_meta, "spec": pod_spec_defaults(pod_spec)}
        if self._call(self._core.create_namespaced_pod, job.namespace, pod, raw=True) is None:
            return  # the Job's namespace is going away
        outcome = run.outcome
        if outcome.waiting is not None:
            self.patch_pod_status(run, self._pending_status(run, outcome.waiting, f"simulated: {outcome.waiting}"))
            return
        pending = outcome.pending if outcome.pending is not None else self.pending
        if pending > 0:
            self.patch_pod_status(run, self._pending_status(run, "ContainerCreating", ""))
            self._patch_job_status(run, {"startTime": run.start_time, "active": 1, "ready": 0})
        pod_name = run.pod_name
        self.schedule(time.monotonic() + pending, lambda: self._run_pod(run, pod_name))

    def _pending_status(self, run: Run, reason: str, message: str) -> dict[str, Any]:
        now = _now()
        statuses = [
            {
                "name": name,
                "ready": False,
                "restartCount": 0,
                "image": image,
                "imageID": "",
                "started": False,
                "state": {"waiting": {"reason": reason, **({"message": message} if message else {})}},
            }
            for name, image in zip(run.containers, run.images, strict=True)
        ]
        return {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "hostIP": "10.0.0.2",
            "conditions": pod_conditions(now, scheduled=True, initialized=False, ready=False),
            "containerStatuses": statuses,
        }

    def _run_pod(self, run: Run, pod_name: str) -> None:
        """The kubelet: mount the volumes (retried while a required item is missing), then run the containers."""
        if run.done or run.pod_name != pod_name:
            return
        meta = {**(run.job.body["spec"]["template"].get("metadata") or {}), "namespace": run.job.namespace}
        files = self._files(run.job.body["spec"]["template"], {**meta, "name": pod_name})
        if files is None:  # the kubelet retries the mount; the container waits in ContainerCreating
            if not run.mount_waiting:
                run.mount_waiting = True
                with self._lock:
                    self.mount_waits.append(run.job.name)
                reason = "MountVolume.SetUp failed: a required ConfigMap or key is missing"
                self.patch_pod_status(run, self._pending_status(run, "ContainerCreating", reason))
            self.schedule(time.monotonic() + self.mount_retry, lambda: self._run_pod(run, pod_name))
            return
        run.job = replace(run.job, files=files)
        now = _now()
        run.started_at = time.monotonic()
        run.running_since = now
        run.running = True
        if run.pods == 1:
            with self._lock:
                self.started.append(
                    Started(run.job.name, run.job.node, run.job.attempt, run.started_at, run.job.namespace)
                )
        running = {
            "phase": "Running",
            "startTime": now,
            "podIP": "10.244.0.10",
            "podIPs": [{"ip": "10.244.0.10"}],
            "conditions": pod_conditions(now, scheduled=True, initialized=True, ready=True),
            "containerStatuses": [
                self._container_status(run, name, image, {"running": {"startedAt": now}}, ready=True)
                for name, image in zip(run.containers, run.images, strict=True)
            ],
        }
        self.patch_pod_status(run, self.executor.running_status(run, running))
        self._patch_job_status(
            run, {"startTime": run.start_time, "active": 1, "ready": 1, "uncountedTerminatedPods": {}}
        )
        deadline = (run.job.body.get("spec") or {}).get("activeDeadlineSeconds")
        left = float(deadline) - (run.started_at - run.job_started) if deadline is not None else None
        if run.disrupted < run.outcome.disruptions:
            delay = run.outcome.delay if run.outcome.delay is not None else self.delay
            self.schedule(run.started_at + delay, lambda: self._disrupt(run, pod_name))
            return
        self.executor.launch(run, left)

    def _container_status(
        self, run: Run, name: str, image: str, state: dict[str, Any], *, ready: bool
    ) -> dict[str, Any]:
        return {
            "name": name,
            "image": image,
            "imageID": f"{image}@sha256:{'0' * 64}",
            "containerID": f"containerd://{run.pod_name}-{name}",
            "lastState": {},
            "ready": ready,
            "restartCount": 0,
            "started": "running" in state,
            "state": {"waiting": None, "running": None, "terminated": None, **state},  # a merge patch replaces
        }

    def _disrupt(self, run: Run, pod_name: str) -> None:
        """Evict the running Pod (node pressure, drain, preemption): Failed with DisruptionTarget, exit 143."""
        with self._lock:
            if run.done or run.main_done or run.pod_name != pod_name:
                return
            run.disrupted += 1
            run.main_done = True
        now = _now()
        terminated = {"exitCode": 143, "reason": "Error", "startedAt": run.running_since, "finishedAt": now}
        status = {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
            "conditions": [
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "TerminationByKubelet",
                    "message": "The node was low on resource: memory.",
                    "lastTransitionTime": now,
                },
                *pod_conditions(now, scheduled=True, initialized=True, ready=False, reason="PodFailed"),
            ],
            "containerStatuses": [
                self._container_status(run, name, image, {"terminated": terminated}, ready=False)
                for name, image in zip(run.containers, run.images, strict=True)
            ],
        }
        self.patch_pod_status(run, status)
        with self._lock:
            self.disruptions.append(run.job.name)
        self._pod_failed(run, status)

    def _pod_failed(self, run: Run, pod_status: Mapping[str, Any]) -> None:
        """The job controller on a failed Pod: its ``podFailurePolicy``, then ``backoffLimit``."""
        spec = run.job.body.get("spec") or {}
        policy = spec.get("podFailurePolicy") if self.pod_failure_policy else None
        action, index = pod_failure_action(policy, pod_status)
        if action == "Ignore" and run.pods < MAX_PODS:  # not counted: a replacement Pod (podReplacementPolicy
            self._release_pod(run)  # Failed: only once this one is terminal, which it is)
            self._new_pod(run)
            return
        if action == "FailJob":
            message = f"Pod {run.job.namespace}/{run.pod_name} failed, matching FailJob rule at index {index}"
            self._end_job(run, succeeded=False, reason="PodFailurePolicy", message=message)
            return
        run.failed += 1
        if run.failed <= int(spec.get("backoffLimit") or 0) and run.pods < MAX_PODS:
            self._release_pod(run)
            self._new_pod(run)
            return
        self._end_job(run, False, "BackoffLimitExceeded", "Job has reached the specified backoff limit")

    def _deadline(self, run: Run) -> None:
        """``activeDeadlineSeconds`` since the Job's start ran out: the controller fails it and stops its Pod."""
        with self._lock:
            if run.done:
                return
            run.done = True
        self.executor.kill(run)
        now = _now()
        if run.running:
            state = {
                "terminated": {"exitCode": 143, "reason": "Error", "startedAt": run.running_since, "finishedAt": now}
            }
        else:  # never ran (pending, image pull, a mount): the container never started
            state = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown", "finishedAt": now}}
        self.patch_pod_status(
            run,
            {
                "phase": "Failed",
                "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline",
                "conditions": pod_conditions(
                    now, scheduled=True, initialized=run.running, ready=False, reason="PodFailed"
                ),
                "containerStatuses": [
                    self._container_status(run, name, image, state, ready=False)
                    for name, image in zip(run.containers, run.images, strict=True)
                ],
            },
        )
        self._end_job(run, False, "DeadlineExceeded", "Job was active longer than specified deadline", locked=True)

    def finish(self, run: Run, deadline_exceeded: bool) -> None:
        """The main container exits as ``run.outcome`` says (``deadline_exceeded``: the local runner's timeout)."""
        if deadline_exceeded:
            self._deadline(run)
            return
        with self._lock:
            if run.done or run.main_done:
                return
            run.main_done = True
        outcome = run.outcome
        now = _now()
        if outcome.succeed:
            exit_code = outcome.exit_code if outcome.exit_code is not None else 0
            reason = outcome.reason or "Completed"
            written = outcome.message if outcome.message is not None else default_output(run.job)
        else:
            exit_code = outcome.exit_code if outcome.exit_code is not None else 1
            reason = outcome.reason or "Error"
            written = outcome.message or ""
        message = termination_message(
            written.encode(),
            (outcome.log or "").encode(),
            policy=run.policy,
            exit_code=exit_code,
            containers=len(run.containers),
        )
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "message": message,
            "startedAt": run.running_since,
            "finishedAt": now,
            "containerID": f"containerd://{run.pod_name}-{run.container}",
        }
        succeeded = exit_code == 0
        main = self._container_status(run, run.container, run.image, {"terminated": terminated}, ready=False)
        with self._lock:
            self.finished.append(
                Finished(run.job.name, run.job.node, run.job.attempt, time.monotonic(), succeeded, reason, exit_code)
            )
        if self.executor.sidecars_keep_running(run):  # a sidecar keeps running: the Pod stays Running, Job active
            sidecars = [
                self._container_status(run, name, image, {"running": {"startedAt": run.running_since}}, ready=True)
                for name, image in zip(run.containers[1:], run.images[1:], strict=True)
            ]
            self.patch_pod_status(run, {"containerStatuses": [main, *sidecars]})
            return
        pod_status: dict[str, Any] = {
            "phase": "Succeeded" if succeeded else "Failed",
            "conditions": pod_conditions(now, scheduled=True, initialized=True, ready=False, reason="PodCompleted"),
            "containerStatuses": [main],
        }
        if succeeded and outcome.lose_pod:
            self._delete_pod(run)
        else:
            self.patch_pod_status(run, self.executor.final_status(run, pod_status))
        if succeeded:
            self._end_job(run, True, "CompletionsReached", "Reached expected number of succeeded pods")
        else:  # the controller decides: a replacement Pod, or the Job fails
            self._pod_failed(run, pod_status)

    def _end_job(self, run: Run, succeeded: bool, reason: str, message: str, *, locked: bool = False) -> None:
        """The controller's two writes (1.31+): ``SuccessCriteriaMet``/``FailureTarget`` with the counts, the Pod's
        job-tracking finalizer removed, then the terminal ``Complete``/``Failed`` once no Pod is left running."""
        if not locked:
            with self._lock:
                if run.done:
                    return
                run.done = True
        now = _now()
        first, final = ("SuccessCriteriaMet", "Complete") if succeeded else ("FailureTarget", "Failed")

        def condition(type_: str) -> dict[str, Any]:
            return {
                "type": type_,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }

        counts = {"succeeded": 1} if succeeded else {"failed": run.failed or 1}
        self._patch_job_status(
            run, {"active": 0, "ready": 0, "terminating": 0, **counts, "conditions": [condition(first)]}
        )
        self._release_pod(run)
        final_status: dict[str, Any] = {"conditions": [condition(first), condition(final)]}
        if succeeded:
            final_status["completionTime"] = now
        self._patch_job_status(run, final_status)

    def _release_pod(self, run: Run) -> None:
        """Remove the job-tracking finalizer of the current Pod: the controller has counted it."""
        patch = {"metadata": {"finalizers": None}}
        self._call(self._core.patch_namespaced_pod, run.pod_name, run.job.namespace, patch, raw=True)

    def _orphaned(self, run: Run) -> None:
        """The Job is gone: delete its Pod and drop the job-tracking finalizer that would keep it."""
        self._delete_pod(run)
        self._release_pod(run)


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
