"""`Api.call` against etcd's size limit: a write the emulator refuses as a real cluster does (500
`etcdserver: request is too large`) is raised at once, never retried (the same write fails every time)."""

from __future__ import annotations

import asyncio
import pathlib

import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api, load_config
from switchyard.sandbox.apiserver import EmulatedCluster

pytestmark = pytest.mark.emulated

WIDGETS_CRD = pathlib.Path(__file__).parent / "widgets-crd.yaml"


def test_the_client_does_not_retry_a_write_etcd_refuses(tmp_path: pathlib.Path) -> None:
    with EmulatedCluster(crd_paths=[WIDGETS_CRD]) as cluster:
        api = Api(load_config(str(cluster.write_kubeconfig(tmp_path / "config"))))
        widget = {"apiVersion": "test.switchyard.dev/v1", "kind": "Widget", "metadata": {"name": "w"}}
        group = ("test.switchyard.dev", "v1", "default", "widgets")

        async def scenario() -> ApiException:
            await api.write(
                api.custom.create_namespaced_custom_object, *group, {**widget, "spec": {"a": "x" * 900_000}}
            )
            with pytest.raises(ApiException) as refused:
                await api.write(api.custom.patch_namespaced_custom_object, *group, "w", {"spec": {"b": "y" * 800_000}})
            return refused.value

        try:
            refused = asyncio.run(scenario())
        finally:
            api.close()
        assert refused.status == 500 and "etcdserver: request is too large" in str(refused.body)
        assert api.retries == 0  # raised at once: before, 8 tries over ~15 s, then ApiTrouble for kopf to retry
