"""Fixtures for the emulator's own tests: a cluster with a small test CRD, raw HTTP and kubernetes clients."""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from switchyard.sandbox.apiserver import EmulatedCluster

WIDGETS_CRD = pathlib.Path(__file__).parent / "widgets-crd.yaml"


class Raw:
    """Plain HTTP against the emulator: (status, headers, parsed JSON body)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, method=method, data=data, headers={"Content-Type": content_type, **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster(crd_paths=[WIDGETS_CRD]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_kubeconfig(cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture(scope="module")
def api_client(module_kubeconfig: pathlib.Path) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(module_kubeconfig))
    yield client
    client.close()


@pytest.fixture(scope="module")
def raw(cluster: EmulatedCluster) -> Raw:
    return Raw(cluster.url)
