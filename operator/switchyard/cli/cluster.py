"""The CLI's only cluster access, through pykube-ng: kubeconfig/context/namespace like kubectl, the Switchyard
kinds, and the reads and writes behind `get`, `logs`, `stop`, `retry` and `route`.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pykube
import requests

from switchyard.cli.actions import retry_body, stop_patch
from switchyard.logic.foreach import output_key
from switchyard.logic.health import ComponentHealth, from_status
from switchyard.models.crd import API_VERSION
from switchyard.models.labels import ANNOTATION_STOP, LABEL_ATTEMPT, LABEL_NODE, LABEL_WORKFLOW_UID

START_WAIT_SECONDS = 120  # how long `logs -f` waits for a container to start
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")  # the second on clusters before 1.27
ATTEMPT_LABELS = (LABEL_WORKFLOW_UID, LABEL_NODE, LABEL_ATTEMPT)  # on node Pods


class Workflow(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = API_VERSION
    endpoint = "workflows"
    kind = "Workflow"


class Component(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = API_VERSION
    endpoint = "components"
    kind = "Component"


class RoutingRule(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = API_VERSION
    endpoint = "routingrules"
    kind = "RoutingRule"


class ArtifactStore(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = API_VERSION
    endpoint = "artifactstores"
    kind = "ArtifactStore"


class ClusterError(Exception):
    """A failed cluster operation, with a message for the user."""


def _kubeconfig(path: str | None, context: str | None) -> pykube.KubeConfig:
    try:
        if path is None and not os.environ.get("KUBECONFIG"):
            config = pykube.KubeConfig.from_env()  # in-cluster, else ~/.kube/config
        else:
            # kubectl merges a colon-separated KUBECONFIG; pykube reads one file: the first that exists
            candidates = [path] if path else os.environ["KUBECONFIG"].split(os.pathsep)
            existing = [c for c in candidates if c and pathlib.Path(c).expanduser().is_file()]
            config = pykube.KubeConfig.from_file(existing[0] if existing else candidates[0])
    except (pykube.exceptions.PyKubeError, OSError) as error:
        raise ClusterError(f"no usable kubeconfig: {error}") from error
    if context is not None:
        if context not in config.contexts:
            raise ClusterError(f"context {context!r} not found in the kubeconfig ({', '.join(config.contexts)})")
        config.set_current_context(context)
    return config


@dataclass
class Cluster:
    api: pykube.HTTPClient
    namespace: str

    @classmethod
    def connect(
        cls, kubeconfig: str | None, context: str | None, namespace: str | None, timeout: float = 10
    ) -> Cluster:
        config = _kubeconfig(kubeconfig, context)
        return cls(pykube.HTTPClient(config, timeout=timeout), namespace or config.namespace)

    def _error(self, what: str, error: Exception) -> ClusterError:
        """The user's message for a failed API call."""
        if isinstance(error, pykube.exceptions.ObjectDoesNotExist):
            return ClusterError(f"{what}: not found in namespace {self.namespace}")
        if isinstance(error, pykube.exceptions.HTTPError):
            if error.code == 404:
                return ClusterError(f"{what}: not found in namespace {self.namespace}")
            return ClusterError(f"{what}: the API server answered {error.code}: {error}")
        if isinstance(error, requests.HTTPError) and error.response is not None:
            if error.response.status_code == 404:
                return ClusterError(f"{what}: not found in namespace {self.namespace}")
            return ClusterError(
                f"{what}: the API server answered {error.response.status_code}: {error.response.text[:300]}"
            )
        return ClusterError(f"{what}: cannot reach the API server: {error}")

    def _call(self, what: str, action: Any) -> Any:
        try:
            return action()
        except (pykube.exceptions.PyKubeError, requests.RequestException) as error:
            raise self._error(what, error) from error

    def workflow(self, name: str) -> dict[str, Any]:
        found = self._call(
            f"workflow {name}",
            lambda: Workflow.objects(self.api).filter(namespace=self.namespace).get_by_name(name),
        )
        return dict(found.obj)

    def artifact_store(self, name: str) -> dict[str, Any]:
        found = self._call(
            f"ArtifactStore {name}",
            lambda: ArtifactStore.objects(self.api).filter(namespace=self.namespace).get_by_name(name),
        )
        return dict(found.obj)

    def secret(self, name: str) -> dict[str, Any] | None:
        """A Secret's data (base64), None when it does not exist."""
        try:
            found = pykube.Secret.objects(self.api).filter(namespace=self.namespace).get_by_name(name)
        except pykube.exceptions.ObjectDoesNotExist:
            return None
        except (pykube.exceptions.PyKubeError, requests.RequestException) as error:
            raise self._error(f"secret {name}", error) from error
        return {"data": dict(found.obj.get("data") or {})}

    def workflows(self, selector: str | None = None) -> list[dict[str, Any]]:
        """The namespace's Workflows; `selector` is a label selector as kubectl's `-l` takes it."""
        query = Workflow.objects(self.api).filter(namespace=self.namespace)
        if selector:
            query = query.filter(selector=selector)
        items = self._call("workflows", lambda: list(query))
        return [dict(item.obj) for item in items]

    def create_workflow(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a Workflow (in its own namespace, else this one); `metadata.generateName` names it server-side."""
        obj = dict(body)
        obj["metadata"] = {"namespace": self.namespace, **(body.get("metadata") or {})}
        meta = obj["metadata"]
        created = Workflow(self.api, obj)
        self._call(f"workflow {meta.get('name') or meta.get('generateName', '') + '*'}", created.create)
        return dict(created.obj)

    def workflow_names(self) -> set[str]:
        return {obj["metadata"]["name"] for obj in self.workflows()}

    def breakers(self) -> dict[str, str]:
        """Each Component's breaker state in the namespace (Components are per namespace)."""
        items = self._call("components", lambda: list(Component.objects(self.api).filter(namespace=self.namespace)))
        return {
            item.name: ((item.obj.get("status") or {}).get("breaker") or {}).get("state", "Closed") for item in items
        }

    def component_health(self) -> dict[str, ComponentHealth]:
        """Each Component's health as its status records it (breaker, `status.stats`), for `switchyard route`."""
        items = self._call("components", lambda: list(Component.objects(self.api).filter(namespace=self.namespace)))
        found: dict[str, ComponentHealth] = {}
        for item in items:
            spec = item.obj.get("spec") or {}
            retry = spec.get("retry")
            limit = retry.get("limit", 2) if isinstance(retry, Mapping) else 2
            limit = limit if isinstance(limit, int) else 2
            estimate = spec.get("runtimeEstimateSeconds")
            found[item.name] = from_status(
                item.obj.get("status"),
                retry_limit=limit,
                runtime_estimate=float(estimate) if isinstance(estimate, int | float) else None,
            )
        return found

    def component_names(self) -> set[str]:
        items = self._call("components", lambda: list(Component.objects(self.api).filter(namespace=self.namespace)))
        return {item.name for item in items}

    def routing_rules(self) -> list[dict[str, Any]]:
        items = self._call("routingrules", lambda: list(RoutingRule.objects(self.api).filter(namespace=self.namespace)))
        return [dict(item.obj) for item in items]

    def outputs(self, configmaps: list[str]) -> dict[str, str]:
        """Node outputs from the outputs ConfigMaps (key = node); missing ConfigMaps are left out."""
        found: dict[str, str] = {}
        for name in configmaps:
            try:
                cm = pykube.ConfigMap.objects(self.api).filter(namespace=self.namespace).get_by_name(name)
            except pykube.exceptions.ObjectDoesNotExist:
                continue
            except requests.RequestException as error:
                raise ClusterError(f"configmap {name}: {error}") from error
            found.update(cm.obj.get("data") or {})
        return found

    def watch_workflow(self, name: str) -> Iterator[dict[str, Any]]:
        """The Workflow now, then each change, until the stream ends (the caller decides when to stop)."""
        current = self.workflow(name)
        yield current
        version = current["metadata"].get("resourceVersion")
        while True:
            query = Workflow.objects(self.api).filter(namespace=self.namespace, field_selector={"metadata.name": name})
            try:
                for event in query.watch(since=version):
                    version = event.object.obj["metadata"].get("resourceVersion", version)
                    if event.type == "DELETED":
                        raise ClusterError(f"workflow {name} was deleted")
                    yield dict(event.object.obj)
            except requests.RequestException:
                current = self.workflow(name)  # the watch broke (timeout, 410): start again from now
                version = current["metadata"].get("resourceVersion")
                yield current

    def stop(self, name: str, reason: str) -> dict[str, Any]:
        """Ask the operator to stop the Workflow; a second stop (it carries the stop annotation) skips its exit
        nodes too."""
        obj = Workflow(self.api, self.workflow(name))
        again = ANNOTATION_STOP in ((obj.obj.get("metadata") or {}).get("annotations") or {})
        self._call(f"workflow {name}", lambda: obj.patch(stop_patch(reason, again)))
        return dict(obj.obj)

    def retry(self, old: Mapping[str, Any]) -> dict[str, Any]:
        body = retry_body(old, self.workflow_names())
        body["metadata"]["namespace"] = self.namespace
        created = Workflow(self.api, body)
        self._call(f"workflow {body['metadata']['name']}", created.create)
        return dict(created.obj)

    def job_pod(self, job: str) -> pykube.Pod:
        """The newest Pod of a Job (a Job of the operator has one: backoffLimit 0)."""
        for label in JOB_NAME_LABELS:
            pods = self._call(
                f"pods of job {job}",
                lambda label=label: list(
                    pykube.Pod.objects(self.api).filter(namespace=self.namespace, selector={label: job})
                ),
            )
            if pods:
                return max(pods, key=lambda pod: pod.obj["metadata"].get("creationTimestamp", ""))
        raise ClusterError(f"job {job} has no Pod (deleted with its Job, or not started yet)")

    def attempt_pod(self, workflow: Mapping[str, Any], node: str, attempt: int) -> pykube.Pod:
        """The Pod of one attempt of a node (the labels the operator puts on its Jobs' Pods)."""
        selector = {
            ATTEMPT_LABELS[0]: str(workflow["metadata"].get("uid", "")),
            ATTEMPT_LABELS[1]: output_key(node),  # `NODE.i` for a forEach instance `NODE[i]`
            ATTEMPT_LABELS[2]: str(attempt),
        }
        pods = self._call(
            f"pods of node {node} attempt {attempt}",
            lambda: list(pykube.Pod.objects(self.api).filter(namespace=self.namespace, selector=selector)),
        )
        if not pods:
            raise ClusterError(f"node {node} has no Pod for attempt {attempt} (not run, or deleted with its Job)")
        return max(pods, key=lambda pod: pod.obj["metadata"].get("creationTimestamp", ""))

    def logs(self, pod: pykube.Pod) -> str:
        try:
            return str(pod.logs())
        except (pykube.exceptions.PyKubeError, requests.RequestException) as error:
            if getattr(error, "code", None) == 404 or (
                isinstance(error, requests.HTTPError)
                and error.response is not None
                and error.response.status_code == 404
            ):
                raise ClusterError(
                    f"logs of pod {pod.name}: the API server has no log for it (404): its node is gone, or the "
                    "server serves no logs (the `switchyard dev` sandbox keeps them in "
                    "<dir>/jobs/<namespace>/<pod>/<container>.log)"
                ) from error
            raise self._error(f"logs of pod {pod.name}", error) from error

    def follow_logs(self, pod: pykube.Pod) -> Iterator[str]:
        """Stream a Pod's log lines as `kubectl logs -f` does (pykube's Pod.logs has no follow option).

        No read timeout: a quiet Pod is not an error; the stream ends when the container does.
        """
        what = f"logs of pod {pod.name}"
        kwargs = pod.api_kwargs(operation="log?follow=true", stream=True, timeout=(10, None))
        deadline = time.monotonic() + START_WAIT_SECONDS
        while True:  # a container that has not started yet is a 400 "waiting to start": wait for it, as kubectl
            response = self._call(what, lambda: self.api.get(**kwargs))
            if response.status_code != 400 or "waiting to start" not in response.text:
                break
            if time.monotonic() > deadline:
                raise ClusterError(f"{what}: {response.json().get('message', response.text)}")
            response.close()
            time.sleep(1.0)
        if response.status_code == 404:
            raise ClusterError(f"{what}: the API server has no log for it (404)")
        self._call(what, response.raise_for_status)
        try:
            yield from response.iter_lines(decode_unicode=True)
        except requests.RequestException as error:
            raise self._error(what, error) from error
