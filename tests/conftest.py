"""Shared fixtures: the emulated Kubernetes API server (with the project's CRDs) and the job simulator."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator

REPO = pathlib.Path(__file__).resolve().parent.parent
PROJECT_CRDS = sorted((REPO / "crds").glob("*.yaml"))


@pytest.fixture(scope="session")
def emulated_cluster() -> Iterator[EmulatedCluster]:
    """An emulated API server (own thread) with ``crds/*.yaml`` registered and namespace ``default``."""
    with EmulatedCluster(crd_paths=PROJECT_CRDS) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kubeconfig(emulated_cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A kubeconfig file for kubectl, the kubernetes client and kopf, pointing at ``emulated_cluster``."""
    return emulated_cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture
def jobsim(kubeconfig: pathlib.Path) -> Iterator[JobSimulator]:
    """A job simulator over ``emulated_cluster``; set ``jobsim.rule`` to decide outcomes (default: succeed)."""
    with JobSimulator(kubeconfig) as sim:
        yield sim
