"""The real operator process against the emulated API, driven with the kubernetes client and a job simulator.

Each test gets its own namespace (the operator watches all), so tests share one cluster and one operator
unless they need their own (restart tests start and kill theirs).
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import kubernetes
import pytest

from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.process import OperatorProcess
from switchyard.sandbox.waiting import wait_for

T = TypeVar("T")
GROUP, VERSION = "switchyard.dev", "v1alpha1"
PLURALS = {"Workflow": "workflows", "Component": "components", "RoutingRule": "routingrules", "Trigger": "triggers"}

pytestmark = pytest.mark.emulated


class Kube:
    """A small facade over the kubernetes client for one namespace."""

    def __init__(self, kubeconfig: pathlib.Path, namespace: str) -> None:
        self.client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.batch = kubernetes.client.BatchV1Api(self.client)
        self.namespace = namespace

    def create(self, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], body)

    def apply_doc(self, doc: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[doc["kind"]], doc)

    def component(self, name: str, **spec: Any) -> None:
        self.create("Component", name, {"image": "example.com/proc:1", **spec})

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], name)  # type: ignore[no-any-return]

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.get(kind, name).get("status") or {}

    def wait_phase(self, name: str, *phases: str, timeout: float = 30.0) -> dict[str, Any]:
        try:
            return wait_for(
                lambda: (s := self.status("Workflow", name)).get("phase") in phases and s,
                timeout,
                what=f"workflow {name} phase in {phases}",
            )
        except TimeoutError as e:  # say where it stood: the phase, message and node phases
            try:
                last = self.status("Workflow", name)
            except Exception:
                raise e from None
            nodes = {n: (v.get("phase"), v.get("reason")) for n, v in (last.get("nodes") or {}).items()}
            raise TimeoutError(f"{e}; last phase {last.get('phase')!r}: {last.get('message')!r}, nodes {nodes}") from e

    def jobs(self) -> list[Any]:
        return list(self.batch.list_namespaced_job(self.namespace).items)

    def events(self, name: str) -> list[Any]:
        items = self.core.list_namespaced_event(self.namespace).items
        return [e for e in items if e.involved_object and e.involved_object.name == name]

    def wait_event(self, name: str, reason: str, timeout: float = 15.0) -> Any:
        return wait_for(
            lambda: next((e for e in self.events(name) if e.reason == reason), None),
            timeout,
            what=f"event {reason} on {name}",
        )

    def configmap(self, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_config_map(name, self.namespace).data or {})


@pytest.fixture(scope="session")
def operator_process(kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """One operator for the session, watching the namespaces `t-*` (a kopf glob) that `namespace` hands out.

    Tests that kill and restart an operator of their own use other namespaces, so no two operators ever
    act on the same Workflow.
    """
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(kubeconfig, log, namespaces=("t-*",)).start()
    proc.wait_ready()
    yield proc
    proc.stop()


def new_namespace(kubeconfig: pathlib.Path, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def namespace(kubeconfig: pathlib.Path) -> str:
    """A fresh namespace watched by the session operator."""
    return new_namespace(kubeconfig, "t")


@pytest.fixture
def kube(kubeconfig: pathlib.Path, namespace: str) -> Kube:
    return Kube(kubeconfig, namespace)


@pytest.fixture
def sim(kubeconfig: pathlib.Path, namespace: str) -> Iterator[JobSimulator]:
    with JobSimulator(kubeconfig, namespace=namespace, delay=0.05) as simulator:
        yield simulator
    assert simulator.errors == [], f"the job simulator saw errors: {simulator.errors[:3]!r}"
    # a Pod whose upstream output was not in its ConfigMap yet waits in ContainerCreating: the operator writes
    # outputs before it launches the nodes that read them, so none should
    assert simulator.mount_waits == [], f"Pods waited for a missing upstream output: {simulator.mount_waits[:3]}"


@pytest.fixture
def running_operator(operator_process: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
    """The session operator; its log tail is printed when the test fails."""
    yield operator_process
    assert operator_process.alive, f"the operator died:\n{operator_process.log()[-4000:]}"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, OperatorProcess):
                report.sections.append(("operator log (tail)", value.log()[-8000:]))
