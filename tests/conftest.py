"""Shared fixtures: the emulated Kubernetes API server (with the project's CRDs), the job simulator, the S3 server."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator
from switchyard.sandbox.s3server import S3Server

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


@pytest.fixture(scope="session")
def s3_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server (`make s3server`) with bucket `switchyard` and one accepted access key, for the session."""
    with S3Server(log_path=tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


@pytest.fixture
def s3_server(s3_server_session: S3Server) -> Iterator[S3Server]:
    """The session's S3 server; a test that took it `down()` gets it back `up()` for the next test."""
    yield s3_server_session
    s3_server_session.up()
