"""`switchyard dev`'s running pieces: the emulated cluster, the operator process, the local job runner and the
embedded S3 server, started together (``Sandbox.running``), and the API calls the command makes."""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import kubernetes

from switchyard.artifacts.store import Credentials, StoreSpec, make_client
from switchyard.models.crd import GROUP, KINDS, VERSION
from switchyard.models.labels import LABEL_EXPECT
from switchyard.models.workflow import WorkflowStatus
from switchyard.sandbox import devlock
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.auth import ADMIN_TOKEN
from switchyard.sandbox.localjobs import LocalJobRunner
from switchyard.sandbox.process import OperatorProcess, free_port
from switchyard.sandbox.s3server import S3Server, S3ServerMissing
from switchyard.schema.crdgen import crd

NAMESPACE = "default"
FINAL_PHASES = ("Succeeded", "Failed", "Invalid")
PLURALS = {kind.kind: kind.plural for kind in KINDS}
REPO_EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "manifests" / "examples"
STORE_SECRET = "default-artifact-store"  # the Secret with the embedded S3 server's access key
BIG_INPUT_KEY = "examples/readings.txt"  # manifests/examples/workflow-big-input.yaml reads it


@dataclasses.dataclass(frozen=True)
class Options:
    dir: pathlib.Path = pathlib.Path(".sandbox")
    examples: pathlib.Path | None = REPO_EXAMPLES  # None: apply none
    timeout: float = 120.0
    keep_running: bool = False
    workers: int = 4
    ingest_port: int = 0  # the operator's CloudEvents ingest endpoint; 0: a free port
    big_input_mib: int = 100  # the generated input of the big-input example (`examples/readings.txt`); 0: none


@dataclasses.dataclass(frozen=True)
class WorkflowRow:
    name: str
    expect: str | None
    status: WorkflowStatus

    @property
    def final(self) -> bool:
        return self.status.phase in FINAL_PHASES


class Sandbox:
    """The running pieces and the API calls the dev command makes."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.dir = options.dir.resolve()
        self.kubeconfig = self.dir / "kubeconfig"
        self.operator_log = self.dir / "operator.log"
        self.job_logs = self.dir / "jobs"
        self.ingest_port = options.ingest_port or free_port()
        self.s3_log = self.dir / "s3server.log"
        self.s3: S3Server | None = None
        self.s3_missing = ""  # why there is no S3 server (moto not installed)

    @contextmanager
    def running(self) -> Iterator[Sandbox]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with devlock.acquire(self.dir, self.kubeconfig) as stale, self.s3_server(), EmulatedCluster() as cluster:
            if stale is not None:
                logging.getLogger(__name__).warning("replaced the stale lock of PID %s (gone)", stale.pid)
            self.operator_log.unlink(missing_ok=True)
            for kind in KINDS:
                cluster.create("apiextensions.k8s.io/v1/customresourcedefinitions", crd(kind))
            cluster.write_kubeconfig(self.kubeconfig)
            self.client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
            self.custom = kubernetes.client.CustomObjectsApi(self.client)
            self.core = kubernetes.client.CoreV1Api(self.client)
            self.runner = LocalJobRunner(self.kubeconfig, workers=self.options.workers, log_dir=self.job_logs)
            cluster.api.log_sources.append(self.runner.pod_log)  # `kubectl logs [-f] <pod>`: the real output
            ingest = ("--ingest-port", str(self.ingest_port), "--ingest-host", "127.0.0.1")
            self.operator = OperatorProcess(self.kubeconfig, self.operator_log, extra_args=ingest)
            with self.runner:
                self.operator.start()
                try:
                    self.operator.wait_ready(timeout=60)
                    yield self
                finally:
                    self.operator.stop()
            self.client.close()

    @contextmanager
    def s3_server(self) -> Iterator[None]:
        """The embedded S3-compatible server (moto, `make s3server`) on loopback, when it is installed."""
        try:
            self.s3 = S3Server(log_path=self.s3_log).start()
        except S3ServerMissing as missing:
            self.s3_missing = str(missing)
            yield
            return
        try:
            yield
        finally:
            self.s3.stop()

    def create_default_store(self) -> None:
        """The namespace's `default` ArtifactStore on the embedded server, its access key in a Secret."""
        assert self.s3 is not None
        secret: Any = {  # the client takes a dict body as it takes a V1Secret
            "metadata": {"name": STORE_SECRET},
            "stringData": {"accessKeyId": self.s3.access_key, "secretAccessKey": self.s3.secret_key},
        }
        self.core.create_namespaced_secret(NAMESPACE, secret)
        s3 = {
            "endpoint": self.s3.endpoint,
            "bucket": self.s3.bucket,
            "region": self.s3.region,
            "insecure": True,
            "pathStyle": True,
            "credentialsSecretRef": {"name": STORE_SECRET},
        }
        self.create({"apiVersion": f"{GROUP}/{VERSION}", "kind": "ArtifactStore",
                     "metadata": {"name": "default"}, "spec": {"s3": s3}})  # fmt: skip

    def put_big_input(self, mib: int) -> int:
        """Generate `mib` MiB of readings (one number a line) on disk and put them as `BIG_INPUT_KEY`; its size."""
        assert self.s3 is not None
        path = self.dir / "readings.txt"
        line, size, n = 0, mib * 1024 * 1024, 0
        with path.open("w") as out:
            while n < size:
                block = "".join(f"{(line + i) % 1000 * 0.25}\n" for i in range(10_000))
                out.write(block)
                n += len(block)
                line += 10_000
        spec = StoreSpec.model_validate(
            {"endpoint": self.s3.endpoint, "bucket": self.s3.bucket, "credentialsSecretRef": {"name": STORE_SECRET}}
        )
        client = make_client(spec, Credentials(self.s3.access_key, self.s3.secret_key))
        client.fput_object(self.s3.bucket, BIG_INPUT_KEY, str(path), content_type="text/plain")
        written = path.stat().st_size
        path.unlink()
        return written

    def create(self, doc: dict[str, Any]) -> None:
        plural = PLURALS[doc["kind"]]
        namespace = (doc.get("metadata") or {}).get("namespace") or NAMESPACE
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, doc)

    def post_event(self, path: str, event: Mapping[str, str], data: Any) -> dict[str, Any]:
        """POST a CloudEvent (binary mode: ce- headers, JSON body) to the ingest endpoint; the 202 body."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
        headers.update({f"ce-{key}": value for key, value in event.items()})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ingest_port}{path}", data=json.dumps(data).encode(), headers=headers
        )
        deadline = time.monotonic() + 30
        while True:  # the endpoint starts with the operator; the Triggers must be seen first
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return cast(dict[str, Any], json.loads(response.read()))
            except (urllib.error.HTTPError, OSError) as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the ingest endpoint did not accept the demo event: {error}") from error
                time.sleep(0.2)

    def list_objects(self, kind: str) -> list[dict[str, Any]]:
        listed = cast(
            dict[str, Any], self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURALS[kind])
        )
        items: list[dict[str, Any]] = listed["items"]
        return sorted(items, key=lambda item: item["metadata"]["name"])

    def workflows(self, names: Iterable[str] | None = None) -> list[WorkflowRow]:
        wanted = set(names) if names is not None else None
        return [
            WorkflowRow(
                item["metadata"]["name"],
                (item["metadata"].get("labels") or {}).get(LABEL_EXPECT),
                WorkflowStatus.model_validate(item.get("status") or {}),
            )
            for item in self.list_objects("Workflow")
            if wanted is None or item["metadata"]["name"] in wanted
        ]

    def outputs(self, status: WorkflowStatus) -> dict[str, str]:
        """Every node's whole output, from the Workflow's outputs ConfigMaps (status.output is a preview)."""
        data: dict[str, str] = {}
        for name in status.outputs:
            try:
                data.update(self.core.read_namespaced_config_map(name, NAMESPACE).data or {})
            except kubernetes.client.ApiException as e:
                if e.status != 404:
                    raise
        return data
