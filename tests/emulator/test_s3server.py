"""The sandbox's S3 server (moto's server mode behind a relay): real S3 semantics through the real client."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from switchyard.sandbox.s3server import S3Server


def client(server: S3Server, secret: str | None = None, access: str | None = None) -> Minio:
    # no client-side retries: a refused connection must show at once
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=10), retries=False)
    return Minio(
        server.host,
        access_key=access or server.access_key,
        secret_key=secret or server.secret_key,
        secure=False,
        region=server.region,
        http_client=http,
    )


def test_put_get_round_trip_multipart(s3_server: S3Server) -> None:
    s3 = client(s3_server)
    data = os.urandom(12 * 1024 * 1024 + 17)  # over minio's 5 MiB part size: a multipart upload
    s3.put_object(s3_server.bucket, "rt/data.bin", io.BytesIO(data), len(data), part_size=5 * 1024 * 1024)
    got = s3.get_object(s3_server.bucket, "rt/data.bin")
    try:
        assert hashlib.sha256(got.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        got.close()
        got.release_conn()
    assert [o.object_name for o in s3.list_objects(s3_server.bucket, prefix="rt/")] == ["rt/data.bin"]


def test_wrong_credentials_are_access_denied(s3_server: S3Server) -> None:
    with pytest.raises(S3Error) as wrong_secret:
        client(s3_server, secret="not-the-secret").bucket_exists(s3_server.bucket)
    assert wrong_secret.value.code == "AccessDenied"
    with pytest.raises(S3Error) as unknown_key:
        client(s3_server, access="AKIAUNKNOWN", secret="x").bucket_exists(s3_server.bucket)
    assert unknown_key.value.code == "AccessDenied"


def test_missing_bucket_is_reported(s3_server: S3Server) -> None:
    assert client(s3_server).bucket_exists(s3_server.bucket)
    assert not client(s3_server).bucket_exists("no-such-bucket")


def test_down_refuses_connections_and_up_keeps_the_objects(s3_server: S3Server) -> None:
    s3 = client(s3_server)
    s3.put_object(s3_server.bucket, "fault/kept", io.BytesIO(b"kept"), 4)
    s3_server.down()
    with pytest.raises(urllib3.exceptions.HTTPError):
        s3.stat_object(s3_server.bucket, "fault/kept")
    s3_server.up()
    got = s3.get_object(s3_server.bucket, "fault/kept")
    assert got.read() == b"kept"
    got.release_conn()
