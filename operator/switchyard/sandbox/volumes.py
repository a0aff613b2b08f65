"""What a container would see in its mounted volumes: the kubelet's ConfigMap/downwardAPI/projected logic.

``materialize(pod_spec, pod_metadata, read_configmap)`` returns ``{relative path: content}`` for the first
container's mounts, the path being the mountPath without its leading slash joined with the file's path
(``switchyard/input``, ``switchyard/upstream/a``). Supported: ``configMap`` volumes, ``projected`` volumes with
``configMap`` and ``downwardAPI`` sources (items key->path, ``optional``), downwardAPI ``fieldRef`` on
metadata.name/namespace/uid, ``metadata.labels['x']``, ``metadata.annotations['x']`` and the whole
labels/annotations maps; ``secret`` volumes and projected sources when a ``read_secret`` is given (the local
runner). emptyDir and others contribute no files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ReadConfigMap = Callable[[str], Mapping[str, str] | None]

_KEYED_FIELD = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


class VolumeError(RuntimeError):
    """A non-optional source is missing: a real pod would stay in ContainerCreating."""


def field_ref(metadata: Mapping[str, Any], field_path: str) -> str:
    """The content the kubelet writes for a downwardAPI ``fieldRef.fieldPath``."""
    if match := _KEYED_FIELD.match(field_path):
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(field_path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(metadata.get(field_path.split(".")[1], ""))
    raise VolumeError(f"unsupported downwardAPI fieldPath: {field_path}")


def _configmap_files(source: Mapping[str, Any], read_configmap: ReadConfigMap) -> dict[str, str]:
    name = source.get("name", "")
    optional = bool(source.get("optional", False))
    data = read_configmap(name)
    if data is None:
        if optional:
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    items = source.get("items")
    if not items:
        return {key: str(value) for key, value in data.items()}
    files: dict[str, str] = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise VolumeError(f'configmap "{name}" has no key "{item["key"]}"')
        files[item["path"]] = str(data[item["key"]])
    return files


def _downward_files(source: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    for item in source.get("items") or []:
        if "fieldRef" in item:
            files[item["path"]] = field_ref(metadata, item["fieldRef"]["fieldPath"])
    return files


def _secret_files(source: Mapping[str, Any], read_secret: ReadConfigMap | None) -> dict[str, str]:
    """A Secret's keys as files, as ConfigMap's (its decoded values): ``secretName`` in a volume, ``name`` in a
    projected source. Without ``read_secret`` (the job simulator) a Secret contributes no files."""
    if read_secret is None:
        return {}
    name = source.get("secretName", source.get("name", ""))
    try:
        return _configmap_files({**source, "name": name}, read_secret)
    except VolumeError as e:
        raise VolumeError(str(e).replace("configmap", "secret", 1)) from None


def volume_files(
    volume: Mapping[str, Any],
    pod_metadata: Mapping[str, Any],
    read_configmap: ReadConfigMap,
    read_secret: ReadConfigMap | None = None,
) -> dict[str, str]:
    """The files of one volume, relative to its mount point."""
    if "configMap" in volume:
        return _configmap_files(volume["configMap"], read_configmap)
    if "secret" in volume:
        return _secret_files(volume["secret"], read_secret)
    if "downwardAPI" in volume:
        return _downward_files(volume["downwardAPI"], pod_metadata)
    if "projected" in volume:
        files: dict[str, str] = {}
        for source in volume["projected"].get("sources") or []:
            if "configMap" in source:
                files.update(_configmap_files(source["configMap"], read_configmap))
            elif "downwardAPI" in source:
                files.update(_downward_files(source["downwardAPI"], pod_metadata))
            elif "secret" in source:
                files.update(_secret_files(source["secret"], read_secret))
        return files
    return {}


def materialize(
    pod_spec: Mapping[str, Any], pod_metadata: Mapping[str, Any], read_configmap: ReadConfigMap
) -> dict[str, str]:
    """All files the first container sees through its volume mounts, keyed by path without the leading /."""
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    containers = pod_spec.get("containers") or [{}]
    files: dict[str, str] = {}
    for mount in containers[0].get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise VolumeError(f'volume "{mount["name"]}" is mounted but not declared')
        root = mount["mountPath"].strip("/")
        for path, content in volume_files(volume, pod_metadata, read_configmap).items():
            files[f"{root}/{path}" if root else path] = content
    return files
