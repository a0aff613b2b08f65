"""Contract tests of the Helm chart's CRDs (equal to the generated ones, kept or not), its default Components,
its `helm test` Pod, its values schema, and that manifests/install.yaml is a fresh render. Helm as in
test_chart.py."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from tests.contract.test_chart import (
    BUILTIN_PROCESSORS,
    CHART,
    CHART_LABEL_KEYS,
    CI_VALUES,
    CRDS_DIR,
    KEEP,
    NAMESPACE,
    RELEASE,
    REPO,
    SWITCHYARD_KINDS,
    assert_restricted,
    effective_values,
    of_kind,
    one,
    operator_container,
    render,
    require_helm,
    run_helm,
    values_files,
    values_of,
)

# --- CRDs ------------------------------------------------------------------------------------------------


def generated_crds() -> dict[str, dict[str, Any]]:
    crds = {}
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        crds[crd["metadata"]["name"]] = crd
    return crds


def without_chart_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD less the labels and the keep annotation the chart adds (the generator may set some too)."""
    crd = json.loads(json.dumps(crd))
    metadata = crd["metadata"]
    labels = {k: v for k, v in metadata.get("labels", {}).items() if k not in CHART_LABEL_KEYS}
    annotations = {k: v for k, v in metadata.get("annotations", {}).items() if k != KEEP}
    metadata.pop("labels", None)
    metadata.pop("annotations", None)
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return crd


def test_crds_are_generated() -> None:
    names = set(generated_crds())
    assert names == {f"{plural}.switchyard.dev" for plural in SWITCHYARD_KINDS}, "run `make crds`"


@pytest.mark.parametrize(
    "values",
    [p for p in CI_VALUES if effective_values(p)["crds"]["install"]],
    ids=lambda p: p.name,
)
def test_rendered_crds_equal_generated(values: pathlib.Path) -> None:
    rendered = {c["metadata"]["name"]: c for c in of_kind(render(values), "CustomResourceDefinition")}
    generated = generated_crds()
    assert rendered.keys() == generated.keys()
    for name, crd in rendered.items():
        assert without_chart_metadata(crd) == without_chart_metadata(generated[name]), f"{name} != crds/"
        # What the generator put in metadata survives; the chart only adds to it.
        for field in ("labels", "annotations"):
            assert generated[name]["metadata"].get(field, {}).items() <= crd["metadata"].get(field, {}).items()
        keep = effective_values(values)["crds"]["keep"]
        assert (crd["metadata"].get("annotations", {}).get(KEEP) == "keep") == keep


def test_crds_kept_by_default() -> None:
    for crd in of_kind(render(), "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"][KEEP] == "keep"


def test_crds_not_kept_when_keep_false() -> None:
    crds = of_kind(render(sets=("crds.keep=false",)), "CustomResourceDefinition")
    assert crds
    for crd in crds:
        assert KEEP not in crd["metadata"].get("annotations", {})


def test_crds_absent_when_install_false() -> None:
    assert not of_kind(render(CHART / "ci" / "crds-off-values.yaml"), "CustomResourceDefinition")
    assert not of_kind(render(sets=("crds.install=false",)), "CustomResourceDefinition")


# --- default Components and the helm test ------------------------------------------------------------


def test_no_default_components_unless_enabled() -> None:
    assert not of_kind(render(), "Component")


@pytest.mark.parametrize(
    ("sets", "namespaces"),
    [
        (("defaultComponents.enabled=true",), [NAMESPACE]),
        (("defaultComponents.enabled=true", "watchNamespaces={a,b}"), ["a", "b"]),
        (
            ("defaultComponents.enabled=true", "defaultComponents.namespaces={c}", "watchNamespaces={a}"),
            ["c"],
        ),
    ],
)
def test_default_components(sets: tuple[str, ...], namespaces: list[str]) -> None:
    from switchyard.models.component import ComponentSpec

    docs = render(sets=sets)
    image = operator_container(docs)["image"]
    components = of_kind(docs, "Component")
    for namespace in namespaces:
        here = [c for c in components if c["metadata"]["namespace"] == namespace]
        assert [c["metadata"]["name"] for c in here] == BUILTIN_PROCESSORS, "data-validator last"
        for component in here:
            assert component["apiVersion"] == "switchyard.dev/v1alpha1"
            spec = ComponentSpec.model_validate(component["spec"])
            assert spec.image == image
            assert spec.command == ["python", "-m", "switchyard.processors", component["metadata"]["name"]]
            # Without a cluster to look the CRD up (helm template, first install) they are a post-install
            # hook, owned like release resources so that the first upgrade adopts them.
            annotations = component["metadata"]["annotations"]
            assert annotations["helm.sh/hook"] == "post-install"
            assert annotations["meta.helm.sh/release-name"] == RELEASE
            assert annotations["meta.helm.sh/release-namespace"] == NAMESPACE
            assert component["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert len(components) == len(namespaces) * len(BUILTIN_PROCESSORS)


def test_helm_test_pod_checks_metrics_under_restricted_context() -> None:
    docs = render()
    pods = [p for p in of_kind(docs, "Pod") if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert len(pods) == 1
    pod = pods[0]
    assert_restricted(pod["spec"])
    (container,) = pod["spec"]["containers"]
    assert container["image"] == operator_container(docs)["image"]
    url = next(e["value"] for e in container["env"] if e["name"] == "METRICS_URL")
    service = one(docs, "Service")
    assert url == (
        f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}/metrics"
    )


# --- values and values.schema.json --------------------------------------------------------------------


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


@pytest.mark.parametrize(
    "sets",
    [
        ("unknownKey=1",),
        ("image.registry=x",),
        ("metrics.serviceMonitor.enable=true",),
        ("crds.instal=false",),
    ],
)
def test_schema_rejects_unknown_keys(sets: tuple[str, ...]) -> None:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for item in sets:
        args += ["--set", item]
    result = run_helm(*args, check=False)
    assert result.returncode != 0
    assert "Additional property" in result.stderr


def test_schema_rejects_bad_values() -> None:
    result = run_helm("template", RELEASE, str(CHART), "--set", "logFormat=xml", check=False)
    assert result.returncode != 0


def test_schema_closes_every_object() -> None:
    """Every object level sets additionalProperties: false, or a schema for map values (labels).

    Open only where Kubernetes owns the shape: the affinity terms, and `global` which Helm injects.
    """
    open_paths = {
        "properties.global",
        *(f"properties.affinity.properties.{k}" for k in ("nodeAffinity", "podAffinity", "podAntiAffinity")),
    }

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and path not in open_paths:
                assert "additionalProperties" in node, f"{path} is open"
                if "properties" in node:
                    assert node["additionalProperties"] is False, f"{path} accepts unknown keys"
            for key, value in node.items():
                visit(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{path}[{index}]")

    visit(schema(), "")


@pytest.mark.parametrize("values", [CHART / "values.yaml", *CI_VALUES], ids=lambda p: p.name)
def test_values_match_schema(values: pathlib.Path) -> None:
    jsonschema.validate(values_of(values), schema())


def test_every_value_is_documented() -> None:
    """helm-docs style: each key has a `# --` comment above it, or sits under a documented parent."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    key_line = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):")
    documented_at: list[tuple[int, bool]] = []  # (indent, documented) of the open parents
    undocumented = []
    for number, line in enumerate(lines):
        match = key_line.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while documented_at and documented_at[-1][0] >= indent:
            documented_at.pop()
        comments = []
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            comments.append(lines[above].strip())
            above -= 1
        documented = any(c.startswith("# --") for c in comments)
        parent_documented = any(d for _, d in documented_at)
        is_leaf = not line.rstrip().endswith(":")
        if is_leaf and not (documented or parent_documented):
            undocumented.append(match["key"])
        documented_at.append((indent, documented or parent_documented))
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


# --- manifests/install.yaml ------------------------------------------------------------------------------


def test_install_yaml_is_fresh() -> None:
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "gen-install.sh"), "--stdout"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HELM": require_helm()},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    committed = (REPO / "manifests" / "install.yaml").read_text()
    assert committed == result.stdout, "manifests/install.yaml is stale: run `make install-yaml`"


def test_install_yaml_content() -> None:
    docs = [d for d in yaml.safe_load_all((REPO / "manifests" / "install.yaml").read_text()) if d]
    assert docs[0] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                "app.kubernetes.io/part-of": "switchyard",
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
    kinds = [d["kind"] for d in docs]
    assert kinds.count("CustomResourceDefinition") == len(SWITCHYARD_KINDS)
    assert "Deployment" in kinds
    assert "Pod" not in kinds, "the helm test Pod is for `helm test` only"
    for doc in docs[1:]:
        if doc["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == NAMESPACE


# The operator's own memory beside its CEL workers: measured up to ~235 MiB (docs/benchmarks.md: ~210 MiB RSS
# running a 5,000-node Workflow, +~25 MiB for a paged relist of 20,000 Jobs and Pods), rounded up.
OPERATOR_MEMORY_MIB = 256


@values_files
def test_cel_workers_and_the_operator_fit_the_containers_memory_limit(values: pathlib.Path) -> None:
    """cgroup v2 OOM-kills the whole container: every CEL worker at its RLIMIT_AS cap, plus the operator's own
    memory, must fit the memory limit the chart renders."""
    from kubernetes.utils import parse_quantity

    from switchyard.config import Options

    container = operator_container(render(values))
    parsed = Options.from_args(container["args"])
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    assert limit, "the operator container must have a memory limit"
    limit_mib = parse_quantity(limit) / 2**20
    merged = effective_values(values)["celWorkers"]
    assert (parsed.cel_workers, parsed.cel_worker_memory_mib) == (merged["count"], merged["memoryMiB"])
    needed = parsed.cel_workers * parsed.cel_worker_memory_mib + OPERATOR_MEMORY_MIB
    assert needed <= limit_mib, (
        f"{parsed.cel_workers} CEL workers x {parsed.cel_worker_memory_mib} MiB + {OPERATOR_MEMORY_MIB} MiB operator "
        f"= {needed} MiB > the {limit} memory limit"
    )


def test_more_cel_workers_than_the_memory_limit_holds_is_caught() -> None:
    """The sum check above is not vacuous: 3 workers x 128 MiB + 256 MiB does not fit the default 512Mi."""
    from switchyard.config import Options

    container = operator_container(render(sets=("celWorkers.count=3",)))
    parsed = Options.from_args(container["args"])
    assert parsed.cel_workers * parsed.cel_worker_memory_mib + OPERATOR_MEMORY_MIB > 512
    assert container["resources"]["limits"]["memory"] == "512Mi"
