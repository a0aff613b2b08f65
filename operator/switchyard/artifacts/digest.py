"""sha256 digests of artifacts (`sha256:<hex>`), computed while streaming: nothing is held in memory whole."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections.abc import Iterable
from typing import IO, Any, BinaryIO

CHUNK = 1024 * 1024
HASH_QUEUE = 8  # chunks read but not hashed yet, at most (8 MiB of 1 MiB chunks)
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
    """Write `chunks` to `out`, hashing as they pass: (digest, size).

    The hashing runs in a thread beside the reading and writing (hashlib and socket reads release the GIL),
    a few chunks behind at most (`HASH_QUEUE`): a download's sha256 costs next to no time of its own."""
    hasher = hashlib.sha256()
    pending: queue.Queue[bytes | None] = queue.Queue(HASH_QUEUE)
    worker = threading.Thread(target=_hash_all, args=(hasher, pending), daemon=True)
    worker.start()
    size = 0
    try:
        for chunk in chunks:
            pending.put(chunk)
            out.write(chunk)
            size += len(chunk)
    finally:
        pending.put(None)
        worker.join()
    return format_digest(hasher.hexdigest()), size


def _hash_all(hasher: Any, pending: queue.Queue[bytes | None]) -> None:
    while (chunk := pending.get()) is not None:
        hasher.update(chunk)


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
