"""Contract tests of the Helm chart: what it renders for every ci/*-values.yaml and its RBAC (its CRDs, default
Components and values schema: test_chart_crds.py).

Helm comes from `.tools/helm` (scripts/get-helm.sh) or PATH. Without it these tests skip locally and fail
in CI (env CI set), where .ci/run installs it first.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "switchyard"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CRDS_DIR = REPO / "crds"
RELEASE = "switchyard"
NAMESPACE = "switchyard-system"

BUILTIN_PROCESSORS = ["json-processor", "chunking-processor", "numeric-processor", "data-validator"]
SWITCHYARD_KINDS = ["workflows", "components", "routingrules", "triggers", "artifactstores", "workflowtemplates"]

# The exact grants the operator needs where it works (per namespace, or cluster-wide).
WORKING_GRANTS: dict[tuple[str, str], set[str]] = {
    ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    # delete: only a Trigger's sealed pending-batch ConfigMaps; a Workflow's go with it (ownerReferences).
    ("", "configmaps"): {"create", "get", "list", "patch", "delete"},
    ("", "events"): {"create", "patch", "list", "watch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("switchyard.dev", "workflows"): {"get", "list", "watch", "patch", "create", "delete"},
    ("switchyard.dev", "components"): {"get", "list", "watch", "patch"},
    ("switchyard.dev", "routingrules"): {"get", "list", "watch", "patch"},
    ("switchyard.dev", "triggers"): {"get", "list", "watch", "patch"},
    ("switchyard.dev", "workflows/status"): {"get", "patch"},
    ("switchyard.dev", "components/status"): {"get", "patch"},
    ("switchyard.dev", "routingrules/status"): {"get", "patch"},
    ("switchyard.dev", "triggers/status"): {"get", "patch"},
    ("switchyard.dev", "artifactstores"): {"get", "list", "watch", "patch"},
    ("switchyard.dev", "artifactstores/status"): {"get", "patch"},
    ("switchyard.dev", "workflowtemplates"): {"get", "list", "watch"},
    ("switchyard.dev", "workflowtemplates/status"): {"get", "patch"},
    # an ArtifactStore's credentials, read by name: never listed or watched
    ("", "secrets"): {"get"},
    # blockOwnerDeletion on the children of Workflows and Triggers, where owner reference permissions are enforced.
    ("switchyard.dev", "workflows/finalizers"): {"update"},
    ("switchyard.dev", "triggers/finalizers"): {"update"},
}
# What kopf reads cluster-wide in every mode.
CLUSTER_GRANTS: dict[tuple[str, str], set[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("", "namespaces"): {"list", "watch"},
}
# Leader election (a Lease, not kopf peering): in the release namespace only, get/update of one Lease by name.
LEADER_ROLE = f"{RELEASE}-leader-election"

# The ingest endpoint's reviews of callers (only with ingest.enabled).
INGEST_GRANTS: dict[tuple[str, str], set[str]] = {
    ("authentication.k8s.io", "tokenreviews"): {"create"},
    ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
}

CHART_LABEL_KEYS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
}
KEEP = "helm.sh/resource-policy"


# --- helpers -----------------------------------------------------------------------------------------


@functools.cache
def helm_path() -> str | None:
    local = REPO / ".tools" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


def require_helm() -> str:
    """The helm binary; skips the test without one, or fails it in CI (where .ci/run installs it)."""
    path = helm_path()
    if path is None:
        message = "helm not found at .tools/helm or on PATH: run scripts/get-helm.sh"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: .ci/run must install it)")
        pytest.skip(message)
    return path


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([require_helm(), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@functools.cache
def render(values: pathlib.Path | None = None, sets: tuple[str, ...] = ()) -> tuple[dict[str, Any], ...]:
    """helm template of the chart, hooks and tests included, parsed into a tuple of objects."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if values is not None:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    docs = yaml.safe_load_all(run_helm(*args).stdout)
    return tuple(doc for doc in docs if doc)


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def values_of(path: pathlib.Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def chart_defaults() -> dict[str, Any]:
    return values_of(CHART / "values.yaml")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective_values(path: pathlib.Path) -> dict[str, Any]:
    """The chart's defaults with one ci values file on top, as Helm merges them."""
    return deep_merge(chart_defaults(), values_of(path))


def grants(rules: Iterable[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, merged over every rule."""
    merged: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                merged.setdefault((group, resource), set()).update(rule["verbs"])
    return merged


def rbac_roles(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in ("Role", "ClusterRole")]


def working_roles(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Roles of watched namespaces (not the leader election Role of the release namespace)."""
    return [r for r in of_kind(docs, "Role") if r["metadata"]["name"] != LEADER_ROLE]


def operator_container(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    deployment = one(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


values_files = pytest.mark.parametrize("values", CI_VALUES, ids=[p.name for p in CI_VALUES])


def test_ci_values_cover_the_required_cases() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "default-values.yaml",
        "namespaced-values.yaml",
        "crds-off-values.yaml",
        "servicemonitor-values.yaml",
        "ingest-values.yaml",
    } <= names


# --- lint ----------------------------------------------------------------------------------------------


def test_helm_lint_default() -> None:
    run_helm("lint", "--strict", str(CHART))


@values_files
def test_helm_lint(values: pathlib.Path) -> None:
    run_helm("lint", "--strict", str(CHART), "--values", str(values))


# --- the operator Deployment --------------------------------------------------------------------------


@values_files
def test_deployment_is_one_replica_recreated(values: pathlib.Path) -> None:
    spec = one(render(values), "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def assert_restricted(pod_spec: dict[str, Any]) -> None:
    pod_sc = pod_spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod_spec["containers"]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == 10001
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc["readOnlyRootFilesystem"] is True
        tmp_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp_mounts) == 1, "a read-only root needs a writable /tmp"
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        assert "emptyDir" in volumes[tmp_mounts[0]["name"]]
        assert container["resources"].get("requests"), f"{container['name']} has no resource requests"
        assert container["resources"].get("limits", {}).get("memory"), f"{container['name']}: no memory limit"


@values_files
def test_deployment_is_restricted(values: pathlib.Path) -> None:
    assert_restricted(one(render(values), "Deployment")["spec"]["template"]["spec"])


@values_files
def test_deployment_ports_probe_and_args(values: pathlib.Path) -> None:
    merged = effective_values(values)
    container = operator_container(render(values))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics_port = merged["metrics"]["port"]
    health_port = merged["health"]["port"]
    ingest = {"ingest": merged["ingest"]["port"]} if merged["ingest"]["enabled"] else {}
    assert ports == {"metrics": metrics_port, "health": health_port, **ingest}

    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    assert probe["port"] in ("health", health_port)

    args = container["args"]
    assert f"--metrics-port={metrics_port}" in args
    assert f"--health-port={health_port}" in args
    assert f"--log-format={merged['logFormat']}" in args
    watched = [a.removeprefix("--namespace=") for a in args if a.startswith("--namespace")]
    assert watched == merged["watchNamespaces"]
    assert ("--verbose" in args) == merged["verbose"]


@values_files
def test_deployment_args_parse_as_the_operator_cli(values: pathlib.Path) -> None:
    from switchyard.config import Options

    container = operator_container(render(values))
    assert "command" not in container, "the image's ENTRYPOINT (python -m switchyard) runs the operator"
    merged = effective_values(values)
    parsed = Options.from_args(container["args"])
    assert list(parsed.namespaces) == merged["watchNamespaces"]
    assert parsed.metrics_port == merged["metrics"]["port"]
    assert parsed.health_port == merged["health"]["port"]
    assert parsed.log_format == merged["logFormat"]
    assert parsed.ingest_port == (merged["ingest"]["port"] if merged["ingest"]["enabled"] else 0)
    assert list(parsed.ingest_audiences) == (merged["ingest"]["audiences"] if merged["ingest"]["enabled"] else [])
    assert dict(parsed.shard_labels) == merged["shard"]["labels"]


def test_shard_labels_become_shard_flags_and_bad_ones_fail() -> None:
    from switchyard.config import Options

    docs = render(sets=("shard.labels.example\\.com/shard=b", "shard.labels.tier=batch"))
    args = operator_container(docs)["args"]
    assert sorted(a for a in args if a.startswith("--shard-label")) == [
        "--shard-label=example.com/shard=b",
        "--shard-label=tier=batch",
    ]
    assert dict(Options.from_args(args).shard_labels) == {"example.com/shard": "b", "tier": "batch"}
    assert not any(a.startswith("--shard-label") for a in operator_container(render())["args"])
    bad = run_helm("template", RELEASE, str(CHART), "--set", "shard.labels.tier=not ok", check=False)
    assert bad.returncode != 0 and "shard.labels" in bad.stderr


def test_deployment_image_defaults_to_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    container = operator_container(render())
    assert container["image"] == f"{chart_defaults()['image']['repository']}:{chart['appVersion']}"


def test_deployment_image_digest_wins() -> None:
    digest = "sha256:" + "ab" * 32
    container = operator_container(render(sets=(f"image.digest={digest}", "image.tag=ignored")))
    assert container["image"].endswith(f"@{digest}")


def test_service_exposes_metrics_of_the_operator_pods() -> None:
    docs = render()
    service = one(docs, "Service")
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics"
    assert port["targetPort"] == "metrics"
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_ingest_service_only_when_enabled() -> None:
    assert [s["metadata"]["name"] for s in of_kind(render(), "Service")] == [f"{RELEASE}-metrics"]
    assert not INGEST_GRANTS.keys() & grants(r for role in rbac_roles(render()) for r in role["rules"]).keys()
    docs = render(CHART / "ci" / "ingest-values.yaml")
    service = next(s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-ingest"))
    (port,) = service["spec"]["ports"]
    assert port == {"name": "ingest", "port": 8080, "targetPort": "ingest", "protocol": "TCP"}
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert "--ingest-port=8088" in operator_container(docs)["args"]


def test_service_monitor_only_when_enabled() -> None:
    assert not of_kind(render(), "ServiceMonitor")
    docs = render(CHART / "ci" / "servicemonitor-values.yaml")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service_labels = one(docs, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


@values_files
@pytest.mark.parametrize("kubernetes_version", ["oldest", "latest"])
def test_objects_match_kubernetes_schemas(values: pathlib.Path, kubernetes_version: str) -> None:
    """Every built-in object is valid (strict: no unknown fields) for the chart's oldest Kubernetes
    (Chart.yaml kubeVersion; the CRDs' CEL rules need 1.28) and the newest one known."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (a test extra)"
    )
    if kubernetes_version == "latest":
        kubernetes_version = kubernetes_validate.latest_version()
    else:
        floor = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
        match = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)(-0)?", floor)
        assert match, f"unexpected kubeVersion {floor!r}"
        kubernetes_version = match[1]
    for doc in render(values):
        if doc["apiVersion"].split("/")[0] in ("switchyard.dev", "monitoring.coreos.com"):
            continue  # custom resources: Components are checked against the models below
        kubernetes_validate.validate(doc, kubernetes_version, strict=True)


# --- RBAC ------------------------------------------------------------------------------------------------


def walk_strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


@values_files
def test_rbac_has_no_wildcards_and_secrets_only_get(values: pathlib.Path) -> None:
    """Secrets: `get` alone (an ArtifactStore's credentials, by name), never list or watch."""
    for role in rbac_roles(render(values)):
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(field, []), f"{role['metadata']['name']}: '*' in {field}"
            if "secrets" in rule.get("resources", []):
                assert rule["resources"] == ["secrets"] and rule["verbs"] == ["get"], role["metadata"]["name"]
            assert not rule.get("nonResourceURLs")


@values_files
def test_rbac_binds_the_operator_service_account(values: pathlib.Path) -> None:
    docs = render(values)
    service_account = one(render(values), "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]) for r in rbac_roles(docs)}
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert len(bindings) == len(roles)
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}]
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        assert (ref["kind"], scope, ref["name"]) in roles


@pytest.mark.parametrize(
    "values",
    [p for p in CI_VALUES if not values_of(p).get("watchNamespaces")],
    ids=lambda p: p.name,
)
def test_rbac_cluster_wide_when_watching_all_namespaces(values: pathlib.Path) -> None:
    docs = render(values)
    assert not working_roles(docs)
    (cluster_role,) = of_kind(docs, "ClusterRole")
    ingest = INGEST_GRANTS if effective_values(values)["ingest"]["enabled"] else {}
    assert grants(cluster_role["rules"]) == {**WORKING_GRANTS, **CLUSTER_GRANTS, **ingest}
    assert len(of_kind(docs, "ClusterRoleBinding")) == 1


@pytest.mark.parametrize(
    "values",
    [p for p in CI_VALUES if values_of(p).get("watchNamespaces")],
    ids=lambda p: p.name,
)
def test_rbac_role_per_watched_namespace(values: pathlib.Path) -> None:
    docs = render(values)
    watched = values_of(values)["watchNamespaces"]
    roles = working_roles(docs)
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted(watched)
    for role in roles:
        assert grants(role["rules"]) == WORKING_GRANTS
    bindings = [b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["name"] != LEADER_ROLE]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(watched)
    for cluster_role in of_kind(docs, "ClusterRole"):
        ingest = INGEST_GRANTS if effective_values(values)["ingest"]["enabled"] else {}
        assert grants(cluster_role["rules"]) == {**CLUSTER_GRANTS, **ingest}, "cluster scope: CRDs, namespaces"


@values_files
def test_no_kopf_peering(values: pathlib.Path) -> None:
    """Issue 7 item 18: leader election is a Lease; kopf peering is unused and not granted.

    (Item 19: `configmaps: delete` stays only because Triggers delete their sealed pending-batch ConfigMaps.)
    """
    for role in rbac_roles(render(values)):
        granted = grants(role["rules"])
        assert not [k for k in granted if k[0] == "kopf.dev"], f"{role['metadata']['name']} grants kopf peering"


@values_files
def test_leader_election_role_is_one_lease_in_the_release_namespace(values: pathlib.Path) -> None:
    docs = render(values)
    merged = effective_values(values)
    assert merged["leaderElection"]["enabled"] is True, "every ci values file keeps leader election on"
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["name"] == LEADER_ROLE]
    assert role["metadata"]["namespace"] == NAMESPACE
    lease_name = merged["leaderElection"]["leaseName"] or RELEASE
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease_name],
            "verbs": ["get", "update"],
        },
    ]
    for other in rbac_roles(docs):
        if other is not role:
            assert ("coordination.k8s.io", "leases") not in grants(other["rules"])
    (binding,) = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["name"] == LEADER_ROLE]
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEADER_ROLE}


@values_files
def test_deployment_runs_leader_election_with_pod_identity(values: pathlib.Path) -> None:
    from switchyard.__main__ import lease_settings
    from switchyard.config import Options

    merged = effective_values(values)["leaderElection"]
    container = operator_container(render(values))
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert env["POD_NAME"] == "metadata.name" and env["POD_NAMESPACE"] == "metadata.namespace"
    parsed = Options.from_args(container["args"])
    assert parsed.leader_election is True
    settings = lease_settings(parsed)
    assert settings.name == (merged["leaseName"] or RELEASE)
    assert (settings.duration, settings.renew_every) == (merged["leaseDurationSeconds"], merged["renewSeconds"])
    assert parsed.lease_namespace is None, "the Lease lives in the Pod's namespace (POD_NAMESPACE)"


def test_leader_election_off_renders_no_lease_rbac_and_no_flag() -> None:
    docs = render(sets=("leaderElection.enabled=false",))
    assert not [r for r in rbac_roles(docs) if ("coordination.k8s.io", "leases") in grants(r["rules"])]
    assert "--leader-election" not in operator_container(docs)["args"]


def test_leader_election_renew_must_be_below_two_thirds_of_the_duration() -> None:
    args = ["template", RELEASE, str(CHART), "--set", "leaderElection.renewSeconds=10"]
    result = run_helm(*args, check=False)
    assert result.returncode != 0 and "renewSeconds must be below two thirds" in result.stderr


def test_default_components_take_extended_resources_and_reject_bad_names() -> None:
    docs = render(sets=("defaultComponents.enabled=true", "defaultComponents.resources.limits.nvidia\\.com/gpu=1"))
    component = of_kind(docs, "Component")[0]
    assert component["spec"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    args = ["template", RELEASE, str(CHART), "--set", "defaultComponents.resources.limits.gpu=1"]
    result = run_helm(*args, check=False)
    assert result.returncode != 0 and "Does not match pattern" in result.stderr


def test_rbac_create_false_renders_no_rbac() -> None:
    docs = render(sets=("rbac.create=false",))
    assert not [d for d in docs if d["kind"].endswith(("Role", "RoleBinding"))]
