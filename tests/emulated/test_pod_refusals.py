"""Jobs admitted whose Pods admission refuses: the job controller's FailedCreate Events, read by the operator.

The job simulator plays a job controller that cannot create the Pod (`Outcome(refuse=...)`): no Pod, a
`FailedCreate` Warning Event on the Job, repeated with backoff. The node says why within seconds (the
pending timeout is 600 s): a used-up quota waits (`QuotaExceeded`, nothing charged) and runs once the quota
frees; a policy (Pod Security, a missing ServiceAccount) fails the node at once, naming it, without a retry
and without charging the breaker.
"""

from __future__ import annotations

import threading
from typing import Any

from switchyard.sandbox import failedcreate
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from tests.emulated.conftest import Kube, wait_for

QUOTA = failedcreate.QUOTA_PODS.replace("{quota}", "team-quota").replace("{used}", "4")
BREAKER = {"failureThreshold": 1, "openSeconds": 600, "halfOpenMaxRuns": 1}


def component(kube: Kube, name: str) -> None:
    kube.component(name, retry={"limit": 3, "backoff": {"initialSeconds": 1}}, circuitBreaker=BREAKER)


def node(name: str, component: str) -> dict[str, Any]:
    return {"name": name, "component": component}


def breaker_failures(kube: Kube, name: str) -> int:
    return int((kube.status("Component", name).get("breaker") or {}).get("consecutiveFailures") or 0)


def test_a_used_up_quota_is_on_the_node_in_seconds_and_the_node_runs_once_it_frees(
    kube: Kube, sim: JobSimulator, running_operator: Any
) -> None:
    component(kube, "proc")
    quota_full = threading.Event()
    quota_full.set()
    sim.refuse_backoff = (0.2, 1.0)

    def rule(job: SimJob) -> Outcome | None:
        return Outcome(refuse=QUOTA) if quota_full.is_set() else None

    sim.rule = rule
    kube.create("Workflow", "wf", {"input": {"data": "x"}, "nodes": [node("a", "proc")]})
    waiting = wait_for(
        lambda: (
            (n := kube.status("Workflow", "wf").get("nodes", {}).get("a", {})).get("reason") == "QuotaExceeded" and n
        ),
        timeout=15,
        what="node a waiting for quota",
    )
    assert waiting["phase"] == "Running" and waiting["attempts"] == 1
    assert waiting["message"].startswith("waiting for quota (ResourceQuota team-quota): pods ")
    assert "exceeded quota: team-quota, requested: pods=1, used: pods=4, limited: pods=4" in waiting["message"]
    event = kube.wait_event("wf", "QuotaExceeded")
    assert event.type == "Warning" and "node a: waiting for quota" in event.message
    assert kube.core.list_namespaced_pod(kube.namespace).items == []

    quota_full.clear()  # other work finished: the job controller's next try creates the Pod
    status = kube.wait_phase("wf", "Succeeded", timeout=30)
    assert status["nodes"]["a"]["attempts"] == 1 and status["nodes"]["a"].get("reason") is None
    assert len(kube.jobs()) == 1  # the same Job waited; nothing was deleted or retried
    assert breaker_failures(kube, "proc") == 0


def test_a_policy_denial_fails_the_node_at_once_naming_the_policy_without_a_retry_or_a_breaker_charge(
    kube: Kube, sim: JobSimulator, running_operator: Any
) -> None:
    component(kube, "hardened")
    component(kube, "needs-sa")
    account = failedcreate.SERVICE_ACCOUNT.replace("{account}", "reader")

    def rule(job: SimJob) -> Outcome | None:
        return Outcome(refuse=failedcreate.POD_SECURITY if job.component == "hardened" else account)

    sim.rule = rule
    kube.create(
        "Workflow",
        "wf",
        {
            "input": {"data": "x"},
            "failurePolicy": "Continue",
            "nodes": [node("psa", "hardened"), node("sa", "needs-sa")],
        },
    )
    status = kube.wait_phase("wf", "Failed", timeout=20)
    psa, sa = status["nodes"]["psa"], status["nodes"]["sa"]
    assert (psa["phase"], psa["reason"], psa["attempts"]) == ("Failed", "PodRefused", 1)
    assert psa["message"].startswith('the Pod is refused by Pod Security restricted:latest: pods "')
    assert 'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false' in psa["message"]
    assert (sa["phase"], sa["reason"], sa["attempts"]) == ("Failed", "PodRefused", 1)
    assert sa["message"].startswith("the Pod is refused by ServiceAccount reader: ")
    assert (
        f'error looking up service account {kube.namespace}/reader: serviceaccount "reader" not found' in sa["message"]
    )
    event = kube.wait_event("wf", "NodeFailed")
    assert "PodRefused" in event.message
    assert breaker_failures(kube, "hardened") == breaker_failures(kube, "needs-sa") == 0
    wait_for(lambda: kube.jobs() == [], timeout=15, what="the refused Jobs removed")  # one attempt each, no retry
    assert {job for job, _ in sim.failed_creates.posted} == {
        status["nodes"]["psa"]["job"],
        status["nodes"]["sa"]["job"],
    }
