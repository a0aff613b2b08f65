"""The UI's only Kubernetes access: the kubernetes client with the caller's kubeconfig (so RBAC decides every
read and write), blocking calls run in threads by the server, and watches fed into asyncio queues.

Independent of the operator's own API code (`switchyard.k8s`): the UI is a client, as the CLI is.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from switchyard.logic.foreach import output_key
from switchyard.models.crd import GROUP, VERSION
from switchyard.models.labels import LABEL_ATTEMPT, LABEL_NODE, LABEL_WORKFLOW_UID

PLURALS = {
    "workflows": "Workflow",
    "components": "Component",
    "routingrules": "RoutingRule",
    "triggers": "Trigger",
}
WATCH_SECONDS = 50  # a watch request's server-side timeout; the loop re-opens it from the last resourceVersion
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class KubeError(Exception):
    """A failed API call: the HTTP status the API server answered (0: no answer) and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(what: str, error: Exception) -> KubeError:
    if isinstance(error, ApiException):
        message = error.reason or ""
        with contextlib.suppress(ValueError, AttributeError):  # a body that is not a Status: keep the reason
            message = json.loads(error.body or "{}").get("message") or message
        return KubeError(int(error.status or 0), f"{what}: {message}")
    return KubeError(0, f"{what}: {error}")


class Stopper:
    """Ends one streaming request at once: a set flag, and the open watch or log stream shut under its read
    (a blocked read would otherwise wait for the next event or the server's timeout)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._close: Callable[[], None] | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    def hold(self, close: Callable[[], None] | None) -> None:
        """What to call to shut the stream now open (None: none is open); called at once if already stopped."""
        with self._lock:
            self._close = close
            stopped = self.event.is_set()
        if close is not None and stopped:
            close()

    def set(self) -> None:
        with self._lock:
            self.event.set()
            close = self._close
        if close is not None:
            with contextlib.suppress(Exception):  # a stream that ended meanwhile
                close()


@dataclass
class Kube:
    """The caller's cluster: the kubeconfig file and context they chose, as kubectl would use them."""

    api: kubernetes.client.ApiClient
    default_namespace: str = "default"
    _stopping: threading.Event = field(default_factory=threading.Event)
    _live: set[threading.Thread] = field(default_factory=set)
    _live_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None) -> Kube:
        if kubeconfig is None and not os.environ.get("KUBECONFIG") and os.environ.get("KUBERNETES_SERVICE_HOST"):
            # in a Pod (the chart's ui.enabled): its service account; each user is reviewed (`switchyard.ui.auth`)
            configuration = kubernetes.client.Configuration()
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return cls(kubernetes.client.ApiClient(configuration), os.environ.get("POD_NAMESPACE", "default"))
        try:
            api = kubernetes.config.new_client_from_config(config_file=kubeconfig, context=context)
            _contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        except (kubernetes.config.ConfigException, OSError) as error:
            raise KubeError(0, f"no usable kubeconfig: {error}") from error
        chosen = next((c for c in _contexts if c["name"] == context), active) if context else active
        namespace = (chosen.get("context") or {}).get("namespace") or "default"
        return cls(api, namespace)

    # Typed as Any: custom-object answers are plain dicts the client types as `object`, and the page reads
    # builtin answers field by field with their Nones handled.
    @property
    def custom(self) -> Any:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def core(self) -> Any:
        return kubernetes.client.CoreV1Api(self.api)

    def close(self) -> None:
        self._stopping.set()

    def as_user(self, token: str) -> Kube:
        """The same cluster with a user's bearer token instead of this server's own credentials (in a cluster:
        what must be read as the user, e.g. an ArtifactStore's Secret, so their RBAC decides)."""
        configuration = copy.copy(self.api.configuration)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        configuration.api_key_prefix = {}
        configuration.refresh_api_key_hook = None  # the service account's token file is not the user's
        configuration.cert_file = configuration.key_file = None
        return Kube(kubernetes.client.ApiClient(configuration), self.default_namespace)

    @property
    def watches(self) -> int:
        """How many watch threads run now (each open page stream holds one until its client goes)."""
        with self._live_lock:
            return len(self._live)

    # --- reads -------------------------------------------------------------------------------------------------

    def objects(self, plural: str, namespace: str | None) -> dict[str, Any]:
        """The objects of a kind, in one namespace or all (empty `namespace`), with the list's resourceVersion."""
        try:
            if namespace:
                answer = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
            else:
                answer = self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
        except Exception as error:
            raise _error(f"list {plural}", error) from error
        return dict(answer)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        try:
            return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))
        except Exception as error:
            raise _error(f"get {PLURALS[plural]} {namespace}/{name}", error) from error

    def artifact_store(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "artifactstores", name))
        except Exception as error:
            raise _error(f"get ArtifactStore {namespace}/{name}", error) from error

    def secret(self, namespace: str, name: str) -> dict[str, Any]:
        """A Secret's `data` (base64 values, as the API gives them), read with these credentials only."""
        try:
            found = self.core.read_namespaced_secret(name, namespace)
        except Exception as error:
            raise _error(f"get Secret {namespace}/{name}", error) from error
        return {"data": dict(found.data or {})}

    def namespaces(self) -> list[str]:
        try:
            return sorted(ns.metadata.name for ns in self.core.list_namespace().items)
        except Exception as error:
            raise _error("list namespaces", error) from error

    def events(self, namespace: str, name: str, kind: str) -> list[dict[str, Any]]:
        """The Events about one object, oldest first."""
        selector = f"involvedObject.name={name},involvedObject.kind={kind}"
        try:
            items = self.core.list_namespaced_event(namespace, field_selector=selector).items
        except Exception as error:
            raise _error(f"list events of {kind} {namespace}/{name}", error) from error
        found = [
            {
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "count": e.count,
                "time": (e.last_timestamp or e.event_time or e.first_timestamp or e.metadata.creation_timestamp),
            }
            for e in items
            if e.involved_object and e.involved_object.name == name
        ]
        for event in found:
            event["time"] = event["time"].isoformat() if event["time"] is not None else None
        return sorted(found, key=lambda e: e["time"] or "")

    def attempt_pod(self, namespace: str, uid: str, node: str, attempt: int) -> str:
        """The name of the Pod of one attempt of a node, by the labels the operator puts on it (a compact status,
        e.g. a forEach instance's, keeps no Job name)."""
        selector = f"{LABEL_WORKFLOW_UID}={uid},{LABEL_NODE}={output_key(node)},{LABEL_ATTEMPT}={attempt}"
        try:
            pods = self.core.list_namespaced_pod(namespace, label_selector=selector).items
        except Exception as error:
            raise _error(f"pods of node {node}", error) from error
        if not pods:
            raise KubeError(404, f"node {node} has no Pod for attempt {attempt} (yet, or any more)")
        pods.sort(key=lambda p: p.metadata.creation_timestamp or 0)
        return str(pods[-1].metadata.name)

    def job_pod(self, namespace: str, job: str) -> str:
        """The name of a Job's Pod (the newest)."""
        last: KubeError | None = None
        for label in JOB_NAME_LABELS:
            try:
                pods = self.core.list_namespaced_pod(namespace, label_selector=f"{label}={job}").items
            except Exception as error:
                last = _error(f"pods of job {job}", error)
                continue
            if pods:
                pods.sort(key=lambda p: p.metadata.creation_timestamp or 0)
                return str(pods[-1].metadata.name)
        if last is not None:
            raise last
        raise KubeError(404, f"job {job} has no Pod (yet, or any more)")

    def pod_phase(self, namespace: str, pod: str) -> str:
        try:
            return str(self.core.read_namespaced_pod(pod, namespace).status.phase or "Pending")
        except Exception as error:
            raise _error(f"get pod {namespace}/{pod}", error) from error

    def log_chunks(self, namespace: str, pod: str, stop: Stopper) -> Iterator[bytes]:
        """The Pod's log as `kubectl logs -f` streams it: chunks until the server closes the stream or `stop`."""
        try:
            response = self.core.read_namespaced_pod_log(
                pod, namespace, follow=True, _preload_content=False, _request_timeout=(10, 300)
            )
        except Exception as error:
            raise _error(f"logs of pod {pod}", error) from error
        stop.hold(response.shutdown)
        try:
            yield from response.stream(4096, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError):
            if not stop.is_set():
                raise
        finally:
            stop.hold(None)
            response.release_conn()

    # --- writes (each is the user's own request: a 403 comes back as such) ------------------------------------

    def patch_workflow(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", name, patch))
        except Exception as error:
            raise _error(f"patch Workflow {namespace}/{name}", error) from error

    def create_workflow(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", body))
        except Exception as error:
            raise _error(f"create Workflow in {namespace}", error) from error

    # --- watches ------------------------------------------------------------------------------------------------

    def watch(
        self,
        plural: str,
        namespace: str | None,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[dict[str, Any]],
        stop: Stopper,
        name: str | None = None,
    ) -> threading.Thread:
        """Start a thread that lists, then watches, a kind (one object with `name`) and puts every event on
        `queue` (`{"type": "SNAPSHOT", "items": [...]}` first and after each re-list, then ADDED/MODIFIED/DELETED
        with the object, and ERROR with a message); it ends as soon as `stop` is set (its open watch shut)."""

        def put(item: dict[str, Any]) -> None:
            if not stop.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                while not stop.is_set() and not self._stopping.is_set():
                    try:
                        self._watch_once(plural, namespace, name, put, stop)
                    except KubeError as error:
                        put({"type": "ERROR", "status": error.status, "message": error.message})
                        stop.wait(5.0)  # e.g. 403: say it, and try again later (the RBAC may be granted)
            finally:
                with self._live_lock:
                    self._live.discard(thread)

        thread = threading.Thread(target=run, name=f"watch-{plural}", daemon=True)
        with self._live_lock:
            self._live.add(thread)
        thread.start()
        return thread

    def _watch_once(
        self,
        plural: str,
        namespace: str | None,
        name: str | None,
        put: Callable[[dict[str, Any]], None],
        stop: Stopper,
    ) -> None:
        selector = {"field_selector": f"metadata.name={name}"} if name else {}
        if namespace:
            lister: Any = self.custom.list_namespaced_custom_object
            args: tuple[Any, ...] = (GROUP, VERSION, namespace, plural)
        else:
            lister, args = self.custom.list_cluster_custom_object, (GROUP, VERSION, plural)
        try:
            listed = lister(*args, **selector)
        except Exception as error:
            raise _error(f"list {plural}", error) from error
        put({"type": "SNAPSHOT", "items": listed.get("items") or []})
        version = (listed.get("metadata") or {}).get("resourceVersion")
        while not stop.is_set():
            watcher = kubernetes.watch.Watch()
            stop.hold(watcher.stop)  # shuts the socket under a blocked read
            try:
                for event in watcher.stream(
                    lister, *args, resource_version=version, timeout_seconds=WATCH_SECONDS, **selector
                ):
                    if stop.is_set():
                        watcher.stop()
                        return
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        return  # e.g. 410 Gone: list again
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        put({"type": event["type"], "object": obj})
            except ApiException as error:
                if error.status == 410:
                    return
                raise _error(f"watch {plural}", error) from error
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if stop.is_set():
                    return
                raise _error(f"watch {plural}", error) from error
            finally:
                stop.hold(None)
