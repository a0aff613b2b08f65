"""The artifacts room without a store: spec and Secret parsing, endpoints, key layout, streaming digests."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest

from switchyard.artifacts import digest, keys
from switchyard.artifacts.store import Credentials, StoreError, endpoint_host, from_objects, parse_spec


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def store(**s3: object) -> dict[str, object]:
    return {"spec": {"s3": {"endpoint": "minio:9000", "bucket": "data", "credentialsSecretRef": {"name": "k"}, **s3}}}


SECRET = {"data": {"accessKeyId": b64("AKIA1"), "secretAccessKey": b64("s3cr3t\n")}}


def test_from_objects_reads_the_default_keys_and_strips_newlines() -> None:
    spec, creds = from_objects(store(), SECRET)
    assert (spec.bucket, creds.access_key_id, creds.secret_access_key) == ("data", "AKIA1", "s3cr3t")


def test_credentials_never_show_the_secret_in_a_repr() -> None:
    assert "s3cr3t" not in repr(Credentials("AKIA1", "s3cr3t"))


def test_custom_secret_keys() -> None:
    ref = {"name": "k", "accessKeyIdKey": "user", "secretAccessKeyKey": "pass"}
    _, creds = from_objects(store(credentialsSecretRef=ref), {"data": {"user": b64("u"), "pass": b64("p")}})
    assert creds == Credentials("u", "p")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "Secret 'k' not found"),
        ({"data": {"accessKeyId": b64("a")}}, "Secret 'k' has no key 'secretAccessKey'"),
        ({"data": {"accessKeyId": "%%%", "secretAccessKey": b64("b")}}, "not base64"),
    ],
)
def test_secret_problems_are_secret_missing(secret: dict[str, object] | None, message: str) -> None:
    with pytest.raises(StoreError) as error:
        from_objects(store(), secret)
    assert error.value.reason == "SecretMissing"
    assert message in error.value.message


def test_invalid_spec_names_the_field() -> None:
    with pytest.raises(StoreError) as error:
        parse_spec(store(bucket="Not_A_Bucket"))
    assert error.value.reason == "InvalidSpec"
    assert "s3.bucket" in error.value.message


@pytest.mark.parametrize(
    ("endpoint", "insecure", "expected"),
    [
        ("s3.amazonaws.com", False, ("s3.amazonaws.com", True)),
        ("minio:9000", True, ("minio:9000", False)),
        ("http://minio:9000", False, ("minio:9000", False)),
        ("https://minio:9000/", True, ("minio:9000", True)),
    ],
)
def test_endpoint_scheme_decides_tls(endpoint: str, insecure: bool, expected: tuple[str, bool]) -> None:
    assert endpoint_host(parse_spec(store(endpoint=endpoint, insecure=insecure))) == expected


def test_keys_are_under_the_prefix_the_uid_and_the_attempt() -> None:
    spec = parse_spec(store(prefix="team-a/"))
    assert keys.prefixed(spec, "inputs/x.csv") == "team-a/inputs/x.csv"
    assert keys.unprefixed(spec, "team-a/inputs/x.csv") == "inputs/x.csv"
    assert keys.workflow_prefix(spec, "ns", "wf") == "team-a/workflows/ns/wf/"
    key = keys.output_key(spec, "ns", "wf", "uid-1", "chunk", 2, "dir/chunk-00000")
    assert key == "team-a/workflows/ns/wf/uid-1/chunk/2/dir/chunk-00000"
    assert keys.output_key(spec, "ns", "wf", "uid-1", "chunk", 3, "x") != keys.output_key(
        spec, "ns", "wf", "uid-1", "chunk", 2, "x"
    )


def test_digests_stream_and_match_hashlib(tmp_path: object) -> None:
    data = bytes(range(256)) * 10_000
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert digest.digest_bytes(data) == expected
    path = tmp_path / "f"  # type: ignore[operator]
    path.write_bytes(data)
    assert digest.digest_file(path) == (expected, len(data))
    reader = digest.DigestingReader(io.BytesIO(data))
    while reader.read(4096):
        pass
    assert (reader.digest, reader.size) == (expected, len(data))
    out = io.BytesIO()
    assert digest.copy_digesting([data[:10], data[10:]], out) == (expected, len(data))
    assert digest.is_digest(expected) and not digest.is_digest("sha256:xyz")
    with pytest.raises(digest.DigestMismatch):
        digest.verify("x", expected, digest.digest_bytes(b"other"))
