"""The ArtifactStore kind: an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS interoperability) for artifacts.

A namespace's Workflows use the store named `default` unless `Workflow.spec.artifactStore` names another.
The credentials stay in a Secret the spec only points at; the operator reads it, nothing copies it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from switchyard.models.common import ApiModel, Conditions, ObjectName, StatusModel, Timestamp

DEFAULT_STORE = "default"
MAX_ENDPOINT = 512
MAX_PREFIX = 512

# host[:port], optionally behind http:// or https:// (the scheme then decides TLS), no path
ENDPOINT = r"^(https?://)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$"
# S3's bucket naming rules (lower case, digits, dots, hyphens; 3-63 characters)
BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"  # a Secret's data key

SecretDataKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=SECRET_KEY)]


class CredentialsSecretRef(ApiModel):
    """Where the access key is: a Secret in the ArtifactStore's namespace and the two keys of its data."""

    name: ObjectName = Field(description="The Secret's name (in the ArtifactStore's namespace).")
    access_key_id_key: SecretDataKey = Field(
        default="accessKeyId", description="The Secret's data key holding the access key ID."
    )
    secret_access_key_key: SecretDataKey = Field(
        default="secretAccessKey", description="The Secret's data key holding the secret access key."
    )


class S3Store(ApiModel):
    """An S3-compatible bucket: where it is and how to sign requests to it."""

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENDPOINT, pattern=ENDPOINT)] = Field(
        description="host[:port] of the S3 API (`s3.amazonaws.com`, `minio.store.svc:9000`); an `http://` or "
        "`https://` prefix sets TLS off or on."
    )
    bucket: Annotated[str, StringConstraints(min_length=3, max_length=63, pattern=BUCKET)] = Field(
        description="The bucket; it must exist (the operator never creates it)."
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] | None = Field(
        default=None, description="The bucket's region; unset asks the store (GetBucketLocation)."
    )
    prefix: Annotated[str, StringConstraints(max_length=MAX_PREFIX, pattern=r"^[^\x00-\x1f]*$")] | None = Field(
        default=None, description="Every key the operator writes starts with this (e.g. `team-a/`)."
    )
    insecure: bool = Field(default=False, description="Plain HTTP instead of TLS (an in-cluster or local store).")
    path_style: bool | None = Field(
        default=None,
        description="true: path-style URLs (`endpoint/bucket/key`, MinIO, Ceph); false: virtual-host style "
        "(`bucket.endpoint/key`); unset: the client's choice for the endpoint.",
    )
    credentials_secret_ref: CredentialsSecretRef = Field(
        description="The Secret with the access key; read by the operator only."
    )


class ArtifactStoreSpec(ApiModel):
    s3: S3Store = Field(description="An S3-compatible bucket.")


class ArtifactStoreStatus(StatusModel):
    """Written by the operator after it checked that the bucket is reachable with the credentials."""

    observed_generation: int | None = Field(default=None, description="The `metadata.generation` this status is for.")
    last_checked: Timestamp | None = Field(default=None, description="When the bucket was last checked.")
    conditions: Conditions = Field(
        default=[],
        description="Ready: the bucket answers with these credentials; False names why (NoSuchBucket, "
        "AccessDenied, Unreachable, SecretMissing, InvalidSpec).",
    )
