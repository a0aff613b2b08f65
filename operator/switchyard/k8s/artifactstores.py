"""ArtifactStores from the API: `resolve_store` reads one and its Secret; `StoreChecker` keeps `Ready` current.

The bucket check itself (`switchyard.artifacts.store.check_bucket`) is blocking minio I/O: it runs in a thread.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from switchyard.artifacts.store import Credentials, StoreError, StoreSpec, credentials_from_secret, parse_spec
from switchyard.k8s.client import Api, is_status
from switchyard.models.artifactstore import DEFAULT_STORE
from switchyard.models.crd import GROUP, VERSION

PLURAL = "artifactstores"


async def read_store(api: Api, namespace: str, name: str) -> dict[str, Any]:
    """The ArtifactStore object (StoreError `StoreNotFound` when there is none)."""
    try:
        body: dict[str, Any] = await api.call(
            api.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        if is_status(error, 404):
            raise StoreError("StoreNotFound", f"ArtifactStore {name!r} not found in namespace {namespace}") from None
        raise
    return body


async def read_secret(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The Secret as the API returns it (data base64), None when it does not exist."""
    try:
        secret = await api.call(api.core.read_namespaced_secret, name, namespace)
    except ApiException as error:
        if is_status(error, 404):
            return None
        raise
    # only the data, still base64: the Secret's values are decoded where they are used, and logged nowhere
    return {"data": dict(secret.data or {})}


async def resolve_store(api: Api, namespace: str, name: str | None = None) -> tuple[StoreSpec, Credentials]:
    """The ArtifactStore `name` (the namespace's `default` when None) and its credentials.

    Raises StoreError (reason StoreNotFound, InvalidSpec, SecretMissing) for what a user must fix, and the
    API client's errors (`ApiTrouble`, other ApiExceptions) for trouble to retry.
    """
    body = await read_store(api, namespace, name or DEFAULT_STORE)
    spec = parse_spec(body)
    secret = await read_secret(api, namespace, spec.credentials_secret_ref.name)
    return spec, credentials_from_secret(spec, secret)
