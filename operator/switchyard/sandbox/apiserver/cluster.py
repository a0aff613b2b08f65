"""``EmulatedCluster``: an ``ApiServer`` served on loopback, in the current loop or a thread of its own, with CRDs
registered; ``write_kubeconfig`` for its clients; ``main`` runs one in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import pathlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import kmock
import yaml

from switchyard.sandbox.apiserver.server import ApiServer, ApiServerBodies
from switchyard.sandbox.auth import AuthTable
from switchyard.sandbox.faults import FaultInjector
from switchyard.sandbox.rbac import Authorizer

T = TypeVar("T")


def write_kubeconfig(
    path: str | pathlib.Path, url: str, namespace: str = "default", token: str = "emulated"
) -> pathlib.Path:
    """A kubeconfig for kubectl, the kubernetes client and kopf (plain HTTP; `token` picks the identity)."""
    path = pathlib.Path(path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulated", "cluster": {"server": url}}],
        "users": [{"name": "emulated", "user": {"token": token}}],
        "contexts": [
            {"name": "emulated", "context": {"cluster": "emulated", "user": "emulated", "namespace": namespace}}
        ],
        "current-context": "emulated",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config))
    return path


class EmulatedCluster:
    """A started ``ApiServer`` on loopback, with CRDs pre-registered; async or in a background thread.

    Async: ``async with EmulatedCluster(crd_paths=[...]) as cluster:`` (or ``await start()``/``stop()``).
    Sync: ``with EmulatedCluster(crd_paths=[...]) as cluster:`` runs the server in its own thread and loop.
    """

    def __init__(
        self,
        crd_paths: Iterable[str | pathlib.Path] = (),
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        namespaces: Iterable[str] = (),
        history_window: int = 10_000,
        schema_validation: bool = True,
        bookmark_seconds: float = 60.0,
    ) -> None:
        self.crd_paths = [pathlib.Path(path) for path in crd_paths]
        self.host = host
        self.port = port
        self.extra_namespaces = list(namespaces)
        self.api = ApiServer(
            history_window=history_window, schema_validation=schema_validation, bookmark_seconds=bookmark_seconds
        )
        self._server: kmock.Server | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @property
    def faults(self) -> FaultInjector:
        return self.api.faults

    @property
    def auth(self) -> AuthTable:
        return self.api.auth

    @property
    def rbac(self) -> Authorizer:
        return self.api.rbac

    @contextlib.contextmanager
    def garbage_collector_paused(self) -> Iterator[None]:
        """Deleted owners' dependents stay until the block ends (then are collected), as behind a busy collector."""
        self.api.pause_collector()
        try:
            yield
        finally:
            self.api.resume_collector()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulated cluster is not started")
        return str(self._server.url).rstrip("/")

    # -- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.api.events.loop = asyncio.get_running_loop()
        await self.api.__aenter__()
        self._server = kmock.Server(self.api, host=self.host, port=self.port, server_cls=ApiServerBodies)
        await self._server.__aenter__()
        for path in self.crd_paths:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    self.create("apiextensions.k8s.io/v1/customresourcedefinitions", doc)
        for namespace in self.extra_namespaces:
            self.create("v1/namespaces", {"metadata": {"name": namespace}})

    async def stop(self) -> None:
        self.api.stop_watches()
        if self._server is not None:
            await self._server.__aexit__(None, None, None)
            self._server = None
        await self.api.__aexit__(None, None, None)

    async def __aenter__(self) -> EmulatedCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> EmulatedCluster:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="emulated-apiserver", daemon=True)
        self._thread.start()
        started.wait(timeout=30)
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread_loop is not None and self._thread is not None:
            self.api.stop_watches()
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(timeout=30)
            self._thread = None
            self._thread_loop = None

    # -- access for tests ---------------------------------------------------------------------------------

    def write_kubeconfig(
        self, path: str | pathlib.Path, namespace: str = "default", token: str = "emulated"
    ) -> pathlib.Path:
        """Write a kubeconfig for kubectl, the kubernetes client and kopf (`token`: see ``rbac``)."""
        return write_kubeconfig(path, self.url, namespace, token)

    def create(self, resource: str, body: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create an object directly (as if POSTed), from any thread."""
        rtype = self.api.find_type(resource)
        store = self.api.store
        with store.lock:
            return copy.deepcopy(store.create(rtype, rtype.storage_version, namespace, copy.deepcopy(dict(body))))

    def get(self, resource: str, name: str, namespace: str | None = "default") -> dict[str, Any] | None:
        """A deep copy of one object (``resource`` as in ``ApiServer.find_type``), or None."""
        return self.api.get_object(resource, namespace, name)

    def inspect(self, resource: str, name: str, namespace: str | None, read: Callable[[dict[str, Any]], T]) -> T | None:
        """``read(stored object)`` under the store's lock, without the deep copy ``get`` makes (None if absent).

        For pollers of big objects (a 5,000-node Workflow): ``read`` must not modify or keep the object.
        """
        rtype = self.api.find_type(resource)
        with self.api.store.lock:
            obj = self.api.store.get(rtype, namespace if rtype.namespaced else None, name)
            return None if obj is None else read(obj)

    def objects(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Deep copies of the live objects of a resource (all namespaces unless given)."""
        return self.api.list_objects(resource, namespace, label_selector, field_selector)


def main(argv: list[str] | None = None) -> int:
    """``python -m switchyard.sandbox.apiserver``: serve the emulator in its own process until SIGTERM/SIGINT.

    Benchmarks run it apart from the job simulator and the load (one interpreter lock each). Prints the URL.
    """
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description="the emulated Kubernetes API server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--crd", action="append", default=[], help="a CRD YAML file to register (repeatable)")
    parser.add_argument("--namespace", action="append", default=[], help="a namespace to create (repeatable)")
    parser.add_argument("--requests-kept", type=int, default=0, help="kmock request log size (default 0: off)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = EmulatedCluster(args.crd, port=args.port or None, namespaces=args.namespace)
    cluster.api.requests_kept = args.requests_kept
    with cluster:
        print(cluster.url, flush=True)
        stop.wait()
    sys.stdout.flush()
    return 0
