"""The emulator's opt-in RBAC: Roles and bindings enforced for an identified ServiceAccount token, 403s worded as
kube-apiserver words them, other tokens unchecked."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import kubernetes
import pytest
from kubernetes import client

from switchyard.sandbox.apiserver import EmulatedCluster

pytestmark = pytest.mark.emulated

SA_TOKEN = "sa-token"
USER = "system:serviceaccount:ops:runner"
RBAC = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "worker", "namespace": "team-a"},
        "rules": [
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["allowed"]},
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "worker", "namespace": "team-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "worker"},
        "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "ops"}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "namespaces-reader"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "namespaces-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "namespaces-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "ops"}],
    },
]
JOB = {
    "metadata": {"name": "j"},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}},
}


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[EmulatedCluster]:
    with EmulatedCluster(namespaces=("team-a", "team-b", "ops")) as emulated:
        assert emulated.rbac.load(RBAC) == 4
        assert emulated.rbac.serviceaccount(SA_TOKEN, "ops", "runner") == USER
        yield emulated


def api_client(cluster: EmulatedCluster, path: pathlib.Path, token: str) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(cluster.write_kubeconfig(path, token=token)))


def forbidden(call: object, *args: object, **kwargs: object) -> tuple[int, str]:
    with pytest.raises(client.ApiException) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    body = json.loads(refused.value.body)
    assert body["reason"] == "Forbidden" and body["code"] == 403
    return refused.value.status, body["message"]


def test_roles_and_bindings_are_enforced_for_the_identified_token(
    cluster: EmulatedCluster, tmp_path: pathlib.Path
) -> None:
    sa = api_client(cluster, tmp_path / "sa", SA_TOKEN)
    batch, core = client.BatchV1Api(sa), client.CoreV1Api(sa)
    batch.create_namespaced_job("team-a", JOB)  # the Role in team-a allows it
    assert [j.metadata.name for j in batch.list_namespaced_job("team-a").items] == ["j"]
    assert core.list_namespace().items  # the ClusterRoleBinding: cluster scope
    status, message = forbidden(batch.list_job_for_all_namespaces)
    assert status == 403
    assert message == (
        f'jobs.batch is forbidden: User "{USER}" cannot list resource "jobs" in API group "batch" at the cluster scope'
    )
    _, message = forbidden(batch.create_namespaced_job, "team-b", JOB)  # a RoleBinding grants in its namespace only
    assert message.endswith('cannot create resource "jobs" in API group "batch" in the namespace "team-b"')
    _, message = forbidden(batch.delete_namespaced_job, "j", "team-a")  # a verb the Role lacks
    assert message.startswith(f'jobs.batch "j" is forbidden: User "{USER}" cannot delete resource "jobs"')
    _, message = forbidden(batch.patch_namespaced_job_status, "j", "team-a", {"status": {}})  # a subresource
    assert 'cannot patch resource "jobs/status" in API group "batch" in the namespace "team-a"' in message
    _, message = forbidden(core.read_namespaced_config_map, "other", "team-a")  # resourceNames
    assert message.startswith(
        f'configmaps "other" is forbidden: User "{USER}" cannot get resource "configmaps" in API group ""'
    )
    with pytest.raises(client.ApiException) as missing:  # allowed by resourceNames: the ordinary 404 follows
        core.read_namespaced_config_map("allowed", "team-a")
    assert missing.value.status == 404
    assert client.CoreApi(sa).get_api_versions().versions == ["v1"]  # discovery: every authenticated user
    assert len(cluster.rbac.denied) == 5

    admin = api_client(cluster, tmp_path / "admin", "emulated")  # not an identified token: unchecked
    client.BatchV1Api(admin).list_job_for_all_namespaces()
    client.BatchV1Api(admin).delete_namespaced_job("j", "team-a")
    assert len(cluster.rbac.denied) == 5
