"""The pure parts of artifacts: attempt keys, the manifest's wire form, staging reasons, store error reasons."""

from __future__ import annotations

import pytest
from minio.error import S3Error, ServerError
from urllib3.exceptions import MaxRetryError

from switchyard.artifacts import manifest as mf
from switchyard.artifacts.trouble import StagingFailure, classify

DIGEST = "sha256:" + "ab" * 32


def test_each_attempt_has_its_own_keys_and_its_manifest_is_never_one_of_them() -> None:
    prefix = mf.attempt_prefix("p/workflows/ns/wf/uid/", "a", 3)
    assert prefix == "p/workflows/ns/wf/uid/a/3"
    assert mf.file_key(prefix, "part/x.csv") == "p/workflows/ns/wf/uid/a/3/part/x.csv"
    assert mf.manifest_key(prefix) == "p/workflows/ns/wf/uid/a/3.manifest.json"
    assert not mf.manifest_key(prefix).startswith(prefix + "/")  # no output file name can overwrite it
    assert mf.attempt_prefix("p/workflows/ns/wf/uid/", "a", 4) != prefix


def test_a_manifest_round_trips_and_is_refused_for_another_workflow() -> None:
    manifest = mf.Manifest("uid-1", "a", 2, (mf.Entry("chunk-00000", "k/files/chunk-00000", 10, DIGEST),))
    read = mf.loads(manifest.dumps(), workflow_uid="uid-1")
    assert read == manifest
    assert read.total_bytes == 10
    with pytest.raises(mf.ManifestError, match="another Workflow"):
        mf.loads(manifest.dumps(), workflow_uid="uid-2")


@pytest.mark.parametrize(
    "data",
    [b"not json", b"{}", b'{"workflowUid":"u","node":"a","attempt":1,"artifacts":[{"name":"x"}]}',
     b'{"workflowUid":"u","node":"a","attempt":1,"artifacts":[{"name":"x","key":"k","size":1,"digest":"md5:1"}]}'],
)  # fmt: skip
def test_a_garbled_manifest_is_a_manifest_error(data: bytes) -> None:
    with pytest.raises(mf.ManifestError):
        mf.loads(data)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "a//b", "./a", ""])
def test_output_names_never_leave_the_attempt_prefix(name: str) -> None:
    with pytest.raises(ValueError):
        mf.check_name(name)


def test_nested_output_names_are_kept() -> None:
    assert mf.check_name("part/2024/a.csv") == "part/2024/a.csv"


def test_the_staging_reason_is_the_first_word_of_a_known_reason() -> None:
    assert mf.staging_reason("ArtifactCorrupt: k: got 3 bytes") == "ArtifactCorrupt"
    assert mf.staging_reason("OutputTooLarge: 10 bytes") == "OutputTooLarge"
    assert mf.staging_reason("Traceback (most recent call last): ...") is None
    assert mf.staging_reason("") is None
    assert mf.staging_reason(None) is None


def _s3_error(code: str) -> S3Error:
    return S3Error(None, code, f"{code} happened", "/b/k", "req", "host", bucket_name="b", object_name="k")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_s3_error("NoSuchKey"), mf.ARTIFACT_MISSING),
        (_s3_error("SlowDown"), mf.STORE_UNAVAILABLE),
        (_s3_error("ExpiredToken"), mf.STORE_UNAVAILABLE),
        (_s3_error("AccessDenied"), mf.STORE_UNAVAILABLE),
        (ServerError("bad gateway", 502), mf.STORE_UNAVAILABLE),
        (MaxRetryError(None, "/b/k", "refused"), mf.STORE_UNAVAILABLE),  # type: ignore[arg-type]
        (ConnectionRefusedError(), mf.STORE_UNAVAILABLE),
        (StagingFailure(mf.ARTIFACT_CORRUPT, "digest"), mf.ARTIFACT_CORRUPT),
        (mf.ManifestError("garbled"), mf.ARTIFACT_CORRUPT),
    ],
)
def test_store_errors_are_classified(exc: BaseException, reason: str) -> None:
    classified = classify(exc)
    assert classified.reason == reason
    assert mf.staging_reason(f"{classified.reason}: {classified.detail}") == reason


def test_store_trouble_is_never_blamed_but_a_cap_is_final() -> None:
    assert mf.STORE_UNAVAILABLE in mf.NOT_BLAMED
    assert mf.ARTIFACT_CORRUPT in mf.NOT_BLAMED
    assert mf.OUTPUT_TOO_LARGE not in mf.NOT_BLAMED
