"""The local runner runs a Pod the kubelet's way: init containers, native sidecars, env sources, statuses.

Commands use paths relative to the working directory and ``$SWITCHYARD_TERMINATION_LOG`` when set, so they
hold whether the runner isolates with bubblewrap (``/`` is the Pod's root) or not (the mounts are under cwd).
"""

from __future__ import annotations

import base64
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.sandbox.isolation import find_bwrap
from switchyard.sandbox.localjobs import LocalJobRunner
from tests.emulated.conftest import Kube, wait_for

pytestmark = pytest.mark.emulated

TERMINATION_LOG = "import os; LOG = os.environ.get('SWITCHYARD_TERMINATION_LOG', '/dev/termination-log')\n"


@pytest.fixture(params=["isolated", "unisolated"])
def runner(kubeconfig: pathlib.Path, namespace: str, request: pytest.FixtureRequest) -> Iterator[LocalJobRunner]:
    bwrap = find_bwrap() if request.param == "isolated" else None
    if request.param == "isolated" and bwrap is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    with LocalJobRunner(kubeconfig, namespace=namespace, workers=2, bwrap=bwrap) as job_runner:
        yield job_runner
    assert not job_runner.errors


def python(name: str, code: str, **extra: Any) -> dict[str, Any]:
    """A container running ``code`` (after TERMINATION_LOG) with the shared emptyDir at /work."""
    return {
        "name": name,
        "image": "switchyard:sandbox",
        "command": ["python", "-c", TERMINATION_LOG + code],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        **extra,
    }


def pod_job(kube: Kube, name: str, spec: dict[str, Any]) -> str:
    pod_spec = {"restartPolicy": "Never", "volumes": [{"name": "work", "emptyDir": {}}], **spec}
    body = {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}}}
    kube.batch.create_namespaced_job(kube.namespace, body)
    return name


def final_pod(kube: Kube, job: str) -> dict[str, Any]:
    """The Job's Pod once the Job has a final condition (its status written before the Job's)."""

    def done() -> Any:
        status = kube.batch.read_namespaced_job_status(job, kube.namespace).status
        return any(c.type in ("Complete", "Failed") for c in status.conditions or [])

    wait_for(done, timeout=60, what=f"job {job} to finish")
    pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=f"job-name={job}").items
    return kube.client.sanitize_for_serialization(pods[0])  # type: ignore[no-any-return]


def by_name(statuses: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in statuses}


def terminated(status: dict[str, Any]) -> dict[str, Any]:
    return status["state"]["terminated"]  # type: ignore[no-any-return]


def test_init_containers_run_in_order_and_share_empty_dirs(kube: Kube, runner: LocalJobRunner) -> None:
    first = python("first", "open('work/order', 'a').write('first,')")
    second = python("second", "open('work/order', 'a').write('second,')")
    main = python("main", "open(LOG, 'w').write(open('work/order').read() + 'main')")
    pod = final_pod(kube, pod_job(kube, "inits", {"initContainers": [first, second], "containers": [main]}))
    assert pod["status"]["phase"] == "Succeeded"
    inits = pod["status"]["initContainerStatuses"]
    assert [s["name"] for s in inits] == ["first", "second"]
    for status in inits:
        assert (terminated(status)["exitCode"], terminated(status)["reason"]) == (0, "Completed")
        assert terminated(status)["startedAt"] and terminated(status)["finishedAt"]
    assert terminated(inits[0])["finishedAt"] <= terminated(inits[1])["startedAt"]
    (main_status,) = pod["status"]["containerStatuses"]
    assert terminated(main_status)["message"] == "first,second,main"  # the emptyDir is the Pod's, shared


def test_a_failing_init_container_fails_the_pod_with_its_status(kube: Kube, runner: LocalJobRunner) -> None:
    ok = python("prepare", "pass")
    bad = python("check", "open(LOG, 'w').write('config is missing'); raise SystemExit(3)")
    never = python("never", "open('work/ran', 'w').write('x')")
    main = python("main", "open(LOG, 'w').write('main ran')")
    job = pod_job(kube, "badinit", {"initContainers": [ok, bad, never], "containers": [main]})
    pod = final_pod(kube, job)
    assert pod["status"]["phase"] == "Failed"
    inits = by_name(pod["status"]["initContainerStatuses"])
    assert terminated(inits["prepare"])["exitCode"] == 0
    assert terminated(inits["check"]) | {"startedAt": "", "finishedAt": "", "containerID": ""} == {
        "exitCode": 3,
        "reason": "Error",
        "message": "config is missing",
        "startedAt": "",
        "finishedAt": "",
        "containerID": "",
    }
    assert inits["never"]["state"]["waiting"]["reason"] == "PodInitializing"
    (main_status,) = pod["status"]["containerStatuses"]
    assert main_status["state"]["waiting"]["reason"] == "PodInitializing"
    assert runner.log(kube.namespace, pod["metadata"]["name"], "main") == ""  # never started
    job_status = kube.batch.read_namespaced_job_status(job, kube.namespace).status
    assert job_status.failed == 1


SIDECAR = """
import signal, sys, time
def stop(*_):
    open(LOG, 'w').write('stopped by SIGTERM')
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open('work/sidecar-up', 'w').write('up')
while True:
    time.sleep(0.05)
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open('work/stubborn-up', 'w').write('up')
while True:
    time.sleep(0.05)
"""
WAIT_FOR_SIDECARS = """
import time
from pathlib import Path
while not (Path('work/sidecar-up').exists() and Path('work/stubborn-up').exists()):
    time.sleep(0.05)
open(LOG, 'w').write('sidecars were up')
"""


def test_sidecars_run_beside_main_then_get_sigterm_then_sigkill(kube: Kube, runner: LocalJobRunner) -> None:
    sidecar = python("proxy", SIDECAR, restartPolicy="Always")
    stubborn = python("stubborn", STUBBORN, restartPolicy="Always")
    main = python("main", WAIT_FOR_SIDECARS)
    spec = {"initContainers": [sidecar, stubborn], "containers": [main], "terminationGracePeriodSeconds": 1}
    pod = final_pod(kube, pod_job(kube, "sidecars", spec))
    assert pod["status"]["phase"] == "Succeeded"  # the sidecars' exit codes do not count
    (main_status,) = pod["status"]["containerStatuses"]
    assert terminated(main_status)["message"] == "sidecars were up"  # they ran while main did
    sidecars = by_name(pod["status"]["initContainerStatuses"])
    assert terminated(sidecars["proxy"])["exitCode"] == 0
    assert terminated(sidecars["proxy"])["message"] == "stopped by SIGTERM"
    assert terminated(sidecars["stubborn"])["exitCode"] == 137  # SIGKILL once the grace period ran out
    assert terminated(sidecars["stubborn"])["finishedAt"] >= terminated(main_status)["finishedAt"]


def test_each_container_gets_its_own_env_from_secrets_and_configmaps(kube: Kube, runner: LocalJobRunner) -> None:
    secret = {"metadata": {"name": "creds"}, "data": {"token": base64.b64encode(b"s3cret").decode()}}
    kube.core.create_namespaced_secret(kube.namespace, secret)
    kube.core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "settings"}, "data": {"mode": "fast"}})
    env_a = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}}},
    ]
    show = "open(LOG, 'w').write(','.join(os.environ.get(k, '-') for k in ('TOKEN', 'MODE', 'GONE', 'ONLY_B')))"
    a = python("a", show, env=env_a)
    b = python("b", show, env=[{"name": "ONLY_B", "value": "b"}])
    pod = final_pod(kube, pod_job(kube, "envs", {"containers": [a, b]}))
    statuses = by_name(pod["status"]["containerStatuses"])
    assert terminated(statuses["a"])["message"] == "s3cret,fast,-,-"
    assert terminated(statuses["b"])["message"] == "-,-,-,b"
    assert "s3cret" not in str(pod["spec"])


def test_a_missing_secret_leaves_the_container_waiting(kube: Kube, runner: LocalJobRunner) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]
    pod_job(kube, "noenv", {"containers": [python("main", "pass", env=env)]})

    def waiting() -> Any:
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector="job-name=noenv").items
        statuses = pods[0].status.container_statuses or [] if pods else []
        state = statuses[0].state.waiting if statuses else None
        return state if state is not None and state.reason == "CreateContainerConfigError" else None

    state = wait_for(waiting, timeout=30, what="the container to wait with CreateContainerConfigError")
    assert state.message == 'secret "absent" not found'
    assert kube.batch.read_namespaced_job_status("noenv", kube.namespace).status.active == 1


def test_the_pod_fails_when_any_regular_container_fails(kube: Kube, runner: LocalJobRunner) -> None:
    good = python("main", "open(LOG, 'w').write('fine')")
    bad = python("helper", "raise SystemExit(4)")
    pod = final_pod(kube, pod_job(kube, "twomains", {"containers": [good, bad]}))
    assert pod["status"]["phase"] == "Failed"
    statuses = by_name(pod["status"]["containerStatuses"])
    assert (terminated(statuses["main"])["exitCode"], terminated(statuses["helper"])["exitCode"]) == (0, 4)


def test_secret_volumes_are_files_and_a_missing_one_keeps_the_pod_creating(kube: Kube, runner: LocalJobRunner) -> None:
    secret = {"metadata": {"name": "files"}, "data": {"key.pem": base64.b64encode(b"PEM").decode()}}
    kube.core.create_namespaced_secret(kube.namespace, secret)
    volumes = [{"name": "work", "emptyDir": {}}, {"name": "creds", "secret": {"secretName": "files"}}]
    main = python("main", "open(LOG, 'w').write(open('creds/key.pem').read())")
    main["volumeMounts"] = [{"name": "creds", "mountPath": "/creds", "readOnly": True}]
    pod = final_pod(kube, pod_job(kube, "secretvol", {"containers": [main], "volumes": volumes}))
    assert terminated(pod["status"]["containerStatuses"][0])["message"] == "PEM"

    missing = [{"name": "work", "emptyDir": {}}, {"name": "creds", "secret": {"secretName": "absent"}}]
    pod_job(kube, "nosecret", {"containers": [main], "volumes": missing})

    def creating() -> Any:
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector="job-name=nosecret").items
        statuses = (pods[0].status.container_statuses or []) if pods else []
        state = statuses[0].state.waiting if statuses else None
        return state if state is not None and state.message else None

    state = wait_for(creating, timeout=30, what="the Pod to stay ContainerCreating")
    assert (state.reason, state.message) == ("ContainerCreating", 'secret "absent" not found')


def test_run_as_non_root_without_a_user_is_refused(kube: Kube, runner: LocalJobRunner) -> None:
    main = python("main", "pass", securityContext={"runAsNonRoot": True})
    pod_job(kube, "nonroot", {"containers": [main]})

    def refused() -> Any:
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector="job-name=nonroot").items
        statuses = (pods[0].status.container_statuses or []) if pods else []
        state = statuses[0].state.waiting if statuses else None
        return state if state is not None and state.reason == "CreateContainerConfigError" else None

    state = wait_for(refused, timeout=30, what="CreateContainerConfigError")
    assert "container has runAsNonRoot and image will run as root" in state.message
