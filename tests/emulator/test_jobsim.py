"""The job simulator: Pods and Job statuses as kubelet + job controller write them, by the test's rule."""

from __future__ import annotations

import itertools
import json
import pathlib
from collections.abc import Iterator

import kubernetes
import pytest

from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.waiting import async_wait_for, wait_for

pytestmark = pytest.mark.emulated

_counter = itertools.count()


@pytest.fixture
def k8s(kubeconfig: pathlib.Path) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def namespace(k8s: kubernetes.client.ApiClient) -> str:
    # id(): test_jobsim_cluster imports these fixtures, so this module may be loaded twice (two counters)
    name = f"jobsim-{next(_counter)}-{id(_counter) % 100000}"
    kubernetes.client.CoreV1Api(k8s).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def jobsim(kubeconfig: pathlib.Path, namespace: str) -> Iterator[JobSimulator]:
    """A simulator of this test's namespace only: Jobs an earlier test left in the shared emulator (e.g. a UI
    test's Workflows, which no simulator ran) are not this test's to run or count."""
    with JobSimulator(kubeconfig, namespace=namespace) as sim:
        yield sim


def job_body(name: str, node: str, attempt: int = 1, **spec: object) -> dict:
    labels = {
        "switchyard.dev/workflow": "wf",
        "switchyard.dev/node": node,
        "switchyard.dev/attempt": str(attempt),
        "switchyard.dev/component": "comp",
    }
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels, "annotations": {"switchyard.dev/config": '{"k": 1}'}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            },
            **spec,
        },
    }


def job_status(k8s: kubernetes.client.ApiClient, namespace: str, name: str) -> dict:
    batch = kubernetes.client.BatchV1Api(k8s)
    return k8s.sanitize_for_serialization(batch.read_namespaced_job_status(name, namespace)).get("status") or {}


def pods_of(k8s: kubernetes.client.ApiClient, namespace: str, job: str) -> list[dict]:
    core = kubernetes.client.CoreV1Api(k8s)
    pods = core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    return [k8s.sanitize_for_serialization(pod) for pod in pods.items]


def conditions(status: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status.get("conditions") or []}


def ended(k8s: kubernetes.client.ApiClient, namespace: str, name: str, timeout: float = 10) -> dict:
    """The Job's status once it has its terminal condition (Complete or Failed)."""
    return wait_for(
        lambda: (
            (s := job_status(k8s, namespace, name))
            and {"Complete", "Failed"} & {c for c, (st, _) in conditions(s).items() if st == "True"}
            and s
        ),
        timeout=timeout,
    )


def test_success_creates_pod_then_completes_the_job(k8s, namespace, jobsim: JobSimulator):
    batch = kubernetes.client.BatchV1Api(k8s)
    created = batch.create_namespaced_job(namespace, job_body("ok", "a"))
    status = ended(k8s, namespace, "ok")
    assert status["active"] == 0 and status["completionTime"] and status["startTime"]
    assert conditions(status) == {
        "SuccessCriteriaMet": ("True", "CompletionsReached"),
        "Complete": ("True", "CompletionsReached"),
    }
    [pod] = pods_of(k8s, namespace, "ok")
    assert pod["metadata"]["name"].startswith("ok-") and len(pod["metadata"]["name"]) == len("ok-") + 5
    labels = pod["metadata"]["labels"]
    assert labels["job-name"] == "ok" and labels["controller-uid"] == created.metadata.uid
    assert labels["batch.kubernetes.io/controller-uid"] == created.metadata.uid
    assert labels["switchyard.dev/node"] == "a"
    [owner] = pod["metadata"]["ownerReferences"]
    assert owner["uid"] == created.metadata.uid and owner["controller"] is True
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert json.loads(terminated["message"]) == {"node": "a", "attempt": 1, "upstream": {}}
    assert jobsim.started_keys() == [("ok", "a", 1)]


def test_failure_by_rule(k8s, namespace, jobsim: JobSimulator):
    jobsim.rule = lambda job: Outcome(succeed=False, exit_code=3, message="boom") if job.node == "bad" else None
    kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, job_body("bad", "bad"))
    status = ended(k8s, namespace, "bad")
    assert conditions(status) == {
        "FailureTarget": ("True", "BackoffLimitExceeded"),
        "Failed": ("True", "BackoffLimitExceeded"),
    }
    assert "completionTime" not in status  # a real job controller sets it on success only
    [pod] = pods_of(k8s, namespace, "bad")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"], terminated["message"]) == (3, "Error", "boom")
    assert "running" not in pod["status"]["containerStatuses"][0]["state"]


def test_active_deadline_exceeded(k8s, namespace, jobsim: JobSimulator):
    jobsim.rule = lambda job: Outcome(delay=30)
    kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, job_body("slow", "s", activeDeadlineSeconds=1))
    status = ended(k8s, namespace, "slow")
    assert conditions(status)["Failed"] == ("True", "DeadlineExceeded")


def test_delays_order_the_finishes_and_one_pod_per_job(k8s, namespace, jobsim: JobSimulator):
    delays = {"first": 3.0, "second": 0.05}  # a wide gap: the two Jobs may start on different worker threads
    jobsim.rule = lambda job: Outcome(delay=delays[job.node or ""])
    batch = kubernetes.client.BatchV1Api(k8s)
    batch.create_namespaced_job(namespace, job_body("first", "first"))
    batch.create_namespaced_job(namespace, job_body("second", "second"))
    wait_for(lambda: jobsim.is_finished("first") and jobsim.is_finished("second"), timeout=10)
    # the simulator starts Jobs on several worker threads: the start order is not fixed, the finish order is
    assert sorted(s[:3] for s in jobsim.started) == [("first", "first", 1), ("second", "second", 1)]
    assert [f.job for f in jobsim.finished] == ["second", "first"]
    assert len(pods_of(k8s, namespace, "first")) == 1 and len(pods_of(k8s, namespace, "second")) == 1


def test_default_output_reads_upstream_configmaps_through_a_projected_volume(k8s, namespace, jobsim: JobSimulator):
    core = kubernetes.client.CoreV1Api(k8s)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "outputs"}, "data": {"up1": "u-one", "up2": "2"}}
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "input"}, "data": {"in": "hello"}})
    seen: list[SimJob] = []
    jobsim.rule = lambda job: seen.append(job)  # type: ignore[func-returns-value]
    body = job_body("down", "down", attempt=2)
    pod_spec = body["spec"]["template"]["spec"]
    pod_spec["containers"][0]["volumeMounts"] = [{"name": "switchyard", "mountPath": "/switchyard"}]
    pod_spec["volumes"] = [
        {
            "name": "switchyard",
            "projected": {
                "sources": [
                    {"configMap": {"name": "input", "items": [{"key": "in", "path": "input"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "config.json",
                                    "fieldRef": {"fieldPath": "metadata.annotations['switchyard.dev/config']"},
                                }
                            ]
                        }
                    },
                    {
                        "configMap": {
                            "name": "outputs",
                            "items": [
                                {"key": "up1", "path": "upstream/up1"},
                                {"key": "up2", "path": "upstream/up2"},
                            ],
                        }
                    },
                    {"configMap": {"name": "missing", "optional": True}},
                ]
            },
        }
    ]
    kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, body)
    wait_for(lambda: jobsim.is_finished("down"), timeout=10)

    def terminated() -> dict | None:  # the Pod's final status may land just after the Job's (under load)
        statuses = pods_of(k8s, namespace, "down")[0]["status"].get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("terminated")

    message = wait_for(terminated, timeout=10, what="the Pod's terminated state")["message"]
    assert json.loads(message) == {"node": "down", "attempt": 2, "upstream": {"up1": "u-one", "up2": "2"}}
    assert seen[0].files["switchyard/input"] == "hello"
    assert seen[0].files["switchyard/config.json"] == '{"k": 1}'
    assert jobsim.errors == []


def test_deleting_a_running_job_stops_and_deletes_its_pod(k8s, namespace, jobsim: JobSimulator):
    jobsim.rule = lambda job: Outcome(delay=30)
    batch = kubernetes.client.BatchV1Api(k8s)
    batch.create_namespaced_job(namespace, job_body("doomed", "d"))
    wait_for(lambda: job_status(k8s, namespace, "doomed").get("active") == 1, timeout=10)
    assert len(pods_of(k8s, namespace, "doomed")) == 1
    batch.delete_namespaced_job("doomed", namespace)
    wait_for(lambda: "doomed" in jobsim.deleted, timeout=10)
    wait_for(lambda: not pods_of(k8s, namespace, "doomed"), timeout=10)
    assert not jobsim.is_finished("doomed")


@pytest.mark.asyncio
async def test_async_usage(kubeconfig, namespace, k8s):
    async with JobSimulator(kubeconfig, namespace=namespace) as sim:
        kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, job_body("async", "x"))
        await async_wait_for(lambda: sim.is_finished("async"), timeout=10)
    assert sim.started_keys() == [("async", "x", 1)]


def test_api_faults_are_retried_like_a_controller_would(k8s, namespace, emulated_cluster, jobsim: JobSimulator):
    emulated_cluster.faults.inject(method="POST", path_regex=rf"/namespaces/{namespace}/pods$", status=429, times=2)
    emulated_cluster.faults.inject(method="PATCH", path_regex=rf"/namespaces/{namespace}/jobs/.*/status$", status=500)
    kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, job_body("flaky", "f"))
    wait_for(lambda: job_status(k8s, namespace, "flaky").get("succeeded") == 1, timeout=10)
    assert len(pods_of(k8s, namespace, "flaky")) == 1
    assert jobsim.errors == []


def test_a_refused_pod_is_failed_create_events_with_backoff_until_the_rule_lets_it(k8s, namespace, kubeconfig):
    """As the job controller: no Pod, `Error creating: ...` Warning Events on the Job (a repeat bumps `count`),
    tried again with backoff; once admission lets it (the rule), the Pod is created and the Job runs."""
    from switchyard.sandbox import failedcreate

    refusing = {"on": True}
    message = failedcreate.QUOTA_PODS.replace("{quota}", "q").replace("{used}", "2")
    rule = lambda job: Outcome(refuse=message) if refusing["on"] else None  # noqa: E731
    core = kubernetes.client.CoreV1Api(k8s)
    with JobSimulator(kubeconfig, namespace=namespace, rule=rule, refuse_backoff=(0.05, 0.2)) as sim:
        kubernetes.client.BatchV1Api(k8s).create_namespaced_job(namespace, job_body("quota", "a"))

        def failed_creates() -> list:
            events = core.list_namespaced_event(namespace, field_selector="involvedObject.kind=Job,reason=FailedCreate")
            return [k8s.sanitize_for_serialization(e) for e in events.items]

        [event] = wait_for(lambda: (found := failed_creates()) and found[0]["count"] >= 3 and found, timeout=10)
        assert event["type"] == "Warning" and event["source"]["component"] == "job-controller"
        assert event["involvedObject"]["name"] == "quota" and event["involvedObject"]["kind"] == "Job"
        assert event["message"].startswith('Error creating: pods "quota-')
        assert event["message"].endswith(
            "is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        )
        assert pods_of(k8s, namespace, "quota") == []
        refusing["on"] = False
        # the terminal condition, not `succeeded`: the job controller writes the count before Complete
        status = ended(k8s, namespace, "quota")
        assert status["succeeded"] == 1
        assert conditions(status)["Complete"] == ("True", "CompletionsReached")
        assert len(pods_of(k8s, namespace, "quota")) == 1
        assert len(failed_creates()) == 1  # repeats of one message stay one Event
        assert sim.errors == []
