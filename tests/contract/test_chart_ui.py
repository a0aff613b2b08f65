"""Contract tests of the chart's web UI (`ui.enabled`): absent by default; when enabled its own ServiceAccount,
least-privilege ClusterRole, restricted Deployment running `switchyard ui --auth token`, and Service."""

from __future__ import annotations

import pytest
import typer.main
import yaml
from tests.contract.test_chart import CHART, NAMESPACE, RELEASE, assert_restricted, grants, of_kind, render, run_helm

from switchyard.cli.main import app

UI = f"{RELEASE}-ui"
ENABLED = ("ui.enabled=true", "ui.port=8090", "ui.service.port=8080")
# What the UI does for the users it has reviewed, and the reviews themselves; nothing else.
UI_GRANTS = {
    ("switchyard.dev", "workflows"): {"get", "list", "watch", "patch", "create"},
    ("switchyard.dev", "components"): {"get", "list", "watch"},
    ("switchyard.dev", "routingrules"): {"get", "list", "watch"},
    ("switchyard.dev", "triggers"): {"get", "list", "watch"},
    ("", "events"): {"list"},
    ("", "namespaces"): {"list"},
    ("", "pods"): {"get", "list"},
    ("", "pods/log"): {"get"},
    ("authentication.k8s.io", "tokenreviews"): {"create"},
    ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
}


def named(kind: str, docs: tuple[dict, ...]) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in of_kind(docs, kind) if d["metadata"]["name"] == UI]


def test_no_ui_by_default() -> None:
    docs = render()
    assert not [d for d in docs if d["metadata"]["name"] == UI]


def test_ui_has_its_own_account_least_privilege_role_and_binding() -> None:
    docs = render(sets=ENABLED)
    (account,) = named("ServiceAccount", docs)
    (role,) = named("ClusterRole", docs)
    assert grants(role["rules"]) == UI_GRANTS
    assert "secrets" not in yaml.safe_dump(role["rules"])
    (binding,) = named("ClusterRoleBinding", docs)
    assert binding["roleRef"]["name"] == UI
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": UI, "namespace": account["metadata"]["namespace"]}
    ]


def test_ui_deployment_is_restricted_token_authenticated_and_served() -> None:
    docs = render(sets=ENABLED)
    (deployment,) = named("Deployment", docs)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == UI
    assert_restricted(pod)
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "switchyard.cli.main", "ui"]
    assert container["args"] == ["--auth=token", "--host=0.0.0.0", "--port=8090"]
    assert container["ports"] == [{"name": "http", "containerPort": 8090, "protocol": "TCP"}]
    (service,) = named("Service", docs)
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == "ui"
    # the operator's Service does not select the UI's Pods
    metrics = next(s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics"))
    assert not metrics["spec"]["selector"].items() <= labels.items()


def test_ui_args_parse_as_the_cli() -> None:
    """The chart's command line is one the `switchyard ui` command accepts (typer parses it, nothing runs)."""
    (deployment,) = named("Deployment", render(sets=ENABLED))
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    command = typer.main.get_command(app)
    ui = command.commands["ui"]  # type: ignore[attr-defined]
    with ui.make_context("ui", list(args)) as ctx:
        assert ctx.params["auth"] == "token" and ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == 8090


@pytest.mark.parametrize("bad", ["ui.enabled=maybe", "ui.port=0", "ui.surprise=1"])
def test_ui_values_are_checked(bad: str) -> None:

    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--set", bad, check=False)
    assert result.returncode != 0


def test_ui_objects_match_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (a test extra)")
    version = kubernetes_validate.latest_version()
    for doc in render(sets=ENABLED):
        if doc["metadata"]["name"] == UI:
            kubernetes_validate.validate(doc, version, strict=True)
