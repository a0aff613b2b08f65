"""sha256 digests of artifacts (`sha256:<hex>`), computed while streaming: nothing is held in memory whole."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from typing import IO, BinaryIO

CHUNK = 1024 * 1024
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class DigestMismatch(Exception):
    """The bytes read are not those recorded (`expected`) or not as many."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest {actual} does not match the recorded {expected}")
        self.expected = expected
        self.actual = actual


def format_digest(hexdigest: str) -> str:
    return f"sha256:{hexdigest}"


def is_digest(value: str) -> bool:
    return DIGEST.match(value) is not None


def digest_bytes(data: bytes) -> str:
    return format_digest(hashlib.sha256(data).hexdigest())


def digest_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(digest, size) of a file, read in 1 MiB chunks."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return format_digest(hasher.hexdigest()), size


def copy_digesting(chunks: Iterable[bytes], out: IO[bytes]) -> tuple[str, int]:
    """Write `chunks` to `out`, hashing as they pass: (digest, size)."""
    hasher = hashlib.sha256()
    size = 0
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return format_digest(hasher.hexdigest()), size


class DigestingReader:
    """A read-only stream over `raw` that hashes what passes through (an upload's body, hashed as it is sent)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._hasher = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self._hasher.update(chunk)
        self.size += len(chunk)
        return chunk

    @property
    def digest(self) -> str:
        return format_digest(self._hasher.hexdigest())


def verify(what: str, expected: str, actual: str) -> None:
    if expected != actual:
        raise DigestMismatch(what, expected, actual)
