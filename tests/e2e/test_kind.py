"""End-to-end: the real image and chart on a throwaway kind cluster, running the shipped examples.

Builds the image (`docker build`), loads it into a new kind cluster with a unique name, installs the chart
(`image.pullPolicy=IfNotPresent`, `defaultComponents.enabled=true`), runs `helm test`, applies every
`manifests/examples/*.yaml` and waits for the Workflows expected to succeed. The cluster is deleted in a
fixture finalizer whatever happens.

Convention for the examples: a Workflow that must finish successfully carries the label
`switchyard.dev/expect: Succeeded`; the test waits for `condition=Complete` on exactly those (examples that
show a failure, a retry or an open breaker simply leave the label off). Objects without a namespace are
applied to `switchyard-examples`, and the default Components are installed in every namespace the examples use.

`test_artifact_store_ready_against_minio` runs a MinIO Deployment (images pulled by the kind node) and checks
ArtifactStores against it: Ready, AccessDenied, NoSuchBucket.

Needs docker (with a running engine), kind, kubectl and helm (`.tools/helm` from scripts/get-helm.sh, or
PATH); skipped with the reason when one is missing. Run with `make e2e`.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "switchyard"
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))
RELEASE = "switchyard"
OPERATOR_NAMESPACE = "switchyard-system"
EXAMPLES_NAMESPACE = "switchyard-examples"
EXPECT_LABEL = "switchyard.dev/expect"
WAIT_TIMEOUT = 300


def helm_binary() -> str | None:
    local = REPO / ".tools" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


def why_not_runnable() -> str | None:
    """The reason this machine cannot run the e2e test, or None."""
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH"
    if helm_binary() is None:
        return "helm not found at .tools/helm or on PATH (run scripts/get-helm.sh)"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out: no usable Docker engine"
    if info.returncode != 0:
        return f"`docker info` failed, no usable Docker engine: {info.stderr.strip()[:300]}"
    return None


@dataclass(frozen=True)
class Cluster:
    name: str
    kubeconfig: pathlib.Path
    image: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        print("+", " ".join(args), file=sys.stderr, flush=True)
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=self.env, check=False)
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def kubectl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, timeout=timeout, check=check)

    def helm(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        helm = helm_binary()
        assert helm is not None
        return self.run(helm, *args, timeout=timeout, check=check)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def diagnose(self) -> None:
        """Print what a failed run needs to be understood (to stderr; pytest shows it on failure)."""
        for args in (
            ("get", "all,workflows,components,routingrules,configmaps", "-A", "-o", "wide"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
            ("get", "workflows,components", "-A", "-o", "yaml"),
            ("logs", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=operator", "--tail=300"),
        ):
            result = self.kubectl(*args, check=False)
            print(f"--- kubectl {' '.join(args)}\n{result.stdout}{result.stderr}", file=sys.stderr)


def example_documents() -> list[dict[str, Any]]:
    """The examples, less those needing an artifact store with its generated input (what `switchyard dev` puts)."""
    docs = []
    for path in EXAMPLES:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    needs = "switchyard.dev/needs"
    return [doc for doc in docs if ((doc.get("metadata") or {}).get("annotations") or {}).get(needs) is None]


def namespace_of(doc: dict[str, Any]) -> str:
    return str(doc.get("metadata", {}).get("namespace") or EXAMPLES_NAMESPACE)


def expected_to_succeed(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, name) of the example Workflows labelled `switchyard.dev/expect: Succeeded`."""
    return [
        (namespace_of(doc), doc["metadata"]["name"])
        for doc in docs
        if doc.get("kind") == "Workflow"
        and doc.get("apiVersion", "").startswith("switchyard.dev/")
        and doc["metadata"].get("labels", {}).get(EXPECT_LABEL) == "Succeeded"
    ]


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = why_not_runnable()
    if reason is not None:
        pytest.skip(reason)

    suffix = uuid.uuid4().hex[:8]
    cluster = Cluster(
        name=f"switchyard-e2e-{suffix}",
        kubeconfig=tmp_path_factory.mktemp("kind") / "kubeconfig",
        image=f"switchyard:e2e-{suffix}",
    )

    def delete_cluster() -> None:
        cluster.run("kind", "delete", "cluster", "--name", cluster.name, timeout=300, check=False)
        cluster.run("docker", "image", "rm", "--force", cluster.image, timeout=120, check=False)

    # Registered before anything is created, so a half-made cluster is deleted too.
    request.addfinalizer(delete_cluster)

    # Also tagged switchyard:<appVersion>, the image the chart defaults to and the examples' own Components name.
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    release_image = f"switchyard:{app_version}"
    cluster.run("docker", "build", "--tag", cluster.image, "--tag", release_image, str(REPO), timeout=1200)
    create = ["kind", "create", "cluster", "--name", cluster.name, "--kubeconfig", str(cluster.kubeconfig)]
    if node_image := os.environ.get("KIND_NODE_IMAGE"):
        create += ["--image", node_image]
    cluster.run(*create, "--wait", "180s", timeout=600)
    cluster.run("kind", "load", "docker-image", cluster.image, release_image, "--name", cluster.name, timeout=600)
    yield cluster


def test_examples_run_on_kind(cluster: Cluster) -> None:
    docs = example_documents()
    assert docs, "manifests/examples/ holds no objects"
    expected = expected_to_succeed(docs)
    assert expected, f"no example Workflow is labelled {EXPECT_LABEL}=Succeeded (see this module's docstring)"
    namespaces = sorted({namespace_of(doc) for doc in docs if doc.get("kind") != "Namespace"})
    repository, tag = cluster.image.split(":")

    try:
        for namespace in namespaces:
            cluster.kubectl("create", "namespace", namespace, check=False)
        cluster.helm(
            "install", RELEASE, str(CHART),
            "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
            "--set", f"image.repository={repository}",
            "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=IfNotPresent",
            "--set", "defaultComponents.enabled=true",
            "--set", f"defaultComponents.namespaces={{{','.join(namespaces)}}}",
            "--set", "verbose=true",
            "--wait", "--timeout", "5m",
        )  # fmt: skip
        cluster.helm("test", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--logs", "--timeout", "3m")

        builtin = cluster.get_json("components", "-n", namespaces[0], "-l", "switchyard.dev/builtin=true")
        assert sorted(c["metadata"]["name"] for c in builtin["items"]) == sorted(
            ["json-processor", "chunking-processor", "numeric-processor", "data-validator"]
        )

        for path in EXAMPLES:
            # A file whose objects name their namespaces is applied as it is (kubectl refuses a different -n).
            names_namespace = any(
                doc.get("metadata", {}).get("namespace") for doc in yaml.safe_load_all(path.read_text()) if doc
            )
            target = [] if names_namespace else ["--namespace", EXAMPLES_NAMESPACE]
            cluster.kubectl("apply", *target, "--filename", str(path))

        for namespace in sorted({ns for ns, _ in expected}):
            cluster.kubectl(
                "wait", "--namespace", namespace, "--for=condition=Complete", "workflow",
                "--selector", f"{EXPECT_LABEL}=Succeeded", f"--timeout={WAIT_TIMEOUT}s",
                timeout=WAIT_TIMEOUT + 60,
            )  # fmt: skip

        for namespace, name in expected:
            status = cluster.get_json("workflow", name, "-n", namespace).get("status", {})
            assert status.get("phase") == "Succeeded", f"{namespace}/{name}: {status}"
            nodes = status.get("nodes") or {}
            assert nodes, f"{namespace}/{name} has no .status.nodes"
            succeeded = {node: s for node, s in nodes.items() if s.get("phase") == "Succeeded"}
            assert succeeded, f"{namespace}/{name}: no node succeeded: {nodes}"
            for node, node_status in succeeded.items():
                assert node_status.get("output"), f"{namespace}/{name} node {node} has an empty output"

        assert_breaker_states(cluster, namespaces)
        cluster.helm("uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait", "--timeout", "3m")
    except BaseException:
        cluster.diagnose()
        raise


def assert_breaker_states(cluster: Cluster, namespaces: list[str], timeout: float = 60) -> None:
    """Components that ran report their breaker state (polled: the status patch may trail the Job)."""
    deadline = time.monotonic() + timeout
    while True:
        components = [c for ns in namespaces for c in cluster.get_json("components", "-n", ns)["items"]]
        ran = [c for c in components if c.get("status", {}).get("runs", 0) > 0]
        missing = [c["metadata"]["name"] for c in ran if not c["status"].get("breaker", {}).get("state")]
        if ran and not missing:
            for component in ran:
                assert component["status"]["breaker"]["state"] in ("Closed", "Open", "HalfOpen")
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no Component reports .status.breaker.state (ran: {len(ran)}, missing: {missing})")
        time.sleep(2)


MINIO_NAMESPACE = "switchyard-store-e2e"
# pulled by the kind node; override with a pinned RELEASE tag (or a mirror) where needed
MINIO_IMAGE = os.environ.get("E2E_MINIO_IMAGE", "quay.io/minio/minio:latest")
MC_IMAGE = os.environ.get("E2E_MC_IMAGE", "quay.io/minio/mc:latest")
MINIO_USER, MINIO_PASSWORD = "switchyard", "switchyard-e2e-secret"


def minio_manifests() -> list[dict[str, Any]]:
    """A one-replica MinIO (restricted securityContext), its Service, and a Job that creates the bucket."""
    restricted = {
        "runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip
    env = [{"name": "MINIO_ROOT_USER", "value": MINIO_USER}, {"name": "MINIO_ROOT_PASSWORD", "value": MINIO_PASSWORD}]
    labels = {"app": "minio"}
    server = {
        "name": "minio", "image": MINIO_IMAGE, "args": ["server", "/data"], "env": env,
        "ports": [{"containerPort": 9000}], "securityContext": restricted,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": 9000}},
    }  # fmt: skip
    make_bucket = (
        f"mc alias set m http://minio:9000 {MINIO_USER} {MINIO_PASSWORD} && mc mb --ignore-existing m/switchyard"
    )
    mc = {
        "name": "mc", "image": MC_IMAGE, "command": ["sh", "-c", make_bucket], "securityContext": restricted,
        "env": [{"name": "HOME", "value": "/tmp"}], "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "minio"},
         "spec": {"selector": {"matchLabels": dict(labels)}, "template": {"metadata": {"labels": dict(labels)},
                  "spec": {"containers": [server], "volumes": [{"name": "data", "emptyDir": {}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "minio"},
         "spec": {"selector": dict(labels), "ports": [{"port": 9000}]}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "make-bucket"},
         "spec": {"backoffLimit": 6, "template": {"spec": {"restartPolicy": "OnFailure", "containers": [mc],
                                                            "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
    ]  # fmt: skip


def artifact_store(name: str, secret: str, bucket: str = "switchyard") -> dict[str, Any]:
    return {
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "ArtifactStore", "metadata": {"name": name},
        "spec": {"s3": {"endpoint": f"minio.{MINIO_NAMESPACE}.svc:9000", "bucket": bucket, "insecure": True,
                        "pathStyle": True, "region": "us-east-1", "credentialsSecretRef": {"name": secret}}},
    }  # fmt: skip


def test_artifact_store_ready_against_minio(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    """ArtifactStores on a real cluster against MinIO: Ready, AccessDenied for a wrong key, NoSuchBucket; the
    operator reads the Secret with its least-privilege RBAC (get only)."""
    repository, tag = cluster.image.split(":")
    try:
        cluster.kubectl("create", "namespace", MINIO_NAMESPACE, check=False)
        cluster.helm(
            "upgrade", "--install", RELEASE, str(CHART),
            "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=IfNotPresent", "--wait", "--timeout", "5m",
        )  # fmt: skip
        manifests = tmp_path / "minio.yaml"
        manifests.write_text(yaml.safe_dump_all(minio_manifests()))
        cluster.kubectl("apply", "-n", MINIO_NAMESPACE, "-f", str(manifests))
        cluster.kubectl("wait", "-n", MINIO_NAMESPACE, "--for=condition=Complete", "job/make-bucket",
                        "--timeout=300s", timeout=360)  # fmt: skip
        for name, password in (("good", MINIO_PASSWORD), ("wrong", "not-the-password")):
            literals = (f"--from-literal=accessKeyId={MINIO_USER}", f"--from-literal=secretAccessKey={password}")
            cluster.kubectl("create", "secret", "generic", name, "-n", MINIO_NAMESPACE, *literals)
        stores = tmp_path / "stores.yaml"
        stores.write_text(yaml.safe_dump_all([
            artifact_store("default", "good"), artifact_store("denied", "wrong"),
            artifact_store("nobucket", "good", bucket="no-such-bucket"),
        ]))  # fmt: skip
        cluster.kubectl("apply", "-n", MINIO_NAMESPACE, "-f", str(stores))
        cluster.kubectl("wait", "-n", MINIO_NAMESPACE, "--for=condition=Ready", "artifactstore/default",
                        "--timeout=120s", timeout=180)  # fmt: skip
        for name, reason in (("denied", "AccessDenied"), ("nobucket", "NoSuchBucket")):
            cluster.kubectl("wait", "-n", MINIO_NAMESPACE, "--for=condition=Ready=False", f"artifactstore/{name}",
                            "--timeout=120s", timeout=180)  # fmt: skip
            conditions = cluster.get_json("artifactstore", name, "-n", MINIO_NAMESPACE)["status"]["conditions"]
            assert [c["reason"] for c in conditions if c["type"] == "Ready"] == [reason]
        described = cluster.kubectl("describe", "artifactstore", "-n", MINIO_NAMESPACE).stdout
        assert MINIO_PASSWORD not in described and "not-the-password" not in described
    except BaseException:
        cluster.diagnose()
        raise
