"""Streaming helpers for the processors: reading files in bounded blocks and writing hashed output files.

Memory stays bounded by `BLOCK_SIZE` (and, for line-based readers, by the longest line they accept),
never by the size of a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from switchyard.processors.contract import JSONValue, ProcessorError, Result, Source

BLOCK_SIZE = 1 << 20
# Entries of the `outputs.files` list in a result (the rest are counted).
OUTPUT_LIST_LIMIT = 5
_UTF8_CONTINUATION = 0b1100_0000


def read_blocks(handle: IO[bytes], size: int | None = None) -> Iterator[bytes]:
    while block := handle.read(size or BLOCK_SIZE):
        yield block


def utf8_blocks(handle: IO[bytes], size: int | None = None) -> Iterator[bytes]:
    """Blocks that each end on a UTF-8 character boundary (an incomplete last character moves on)."""
    carry = b""
    for block in read_blocks(handle, size):
        data = carry + block if carry else block
        cut = utf8_boundary(data)
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry:
        yield carry


def utf8_boundary(data: bytes) -> int:
    """The largest index <= len(data) that does not split a UTF-8 sequence (only the last 3 bytes move)."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & _UTF8_CONTINUATION != 0x80:  # a lead byte or ASCII
            needed = 1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if back >= needed else end - back
    return end


def decode(data: bytes) -> str:
    """Text of `data`; each byte that is not UTF-8 becomes one lone surrogate, so `encode` gives it back."""
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_range(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The bytes [start, end) of the file at `path`, in bounded blocks."""
    with path.open("rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0 and (block := handle.read(min(left, BLOCK_SIZE))):
            left -= len(block)
            yield block


def read_lines(source: Source, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its end) for each line; a longer line than allowed is an error."""
    with source.open() as handle:
        number = 0
        while line := handle.readline(max_line_bytes + 1):
            number += 1
            if len(line) > max_line_bytes and not (len(line) == max_line_bytes + 1 and line.endswith(b"\n")):
                raise ProcessorError(
                    f"{source.name}: line {number} is longer than {max_line_bytes} bytes (config.maxLineBytes)"
                )
            yield number, line.rstrip(b"\r\n")


@dataclass
class OutputFile:
    """One file written under the outputs directory; sha256 and size are kept as it is written."""

    name: str
    path: Path | None  # None: not written (no outputs directory)
    handle: IO[bytes] | None
    hashed: bool = True
    size: int = 0

    def __post_init__(self) -> None:
        self._hash = hashlib.sha256() if self.hashed else None

    def write(self, data: bytes) -> None:
        if self.handle is not None:
            self.handle.write(data)
        if self._hash is not None:
            self._hash.update(data)
        self.size += len(data)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def truncate(self, size: int, kept: Iterator[bytes]) -> None:
        """Cut the file back to `size` bytes; `kept` gives those bytes again, to recompute the digest."""
        if self.handle is not None:
            self.handle.flush()
            self.handle.truncate(size)
            self.handle.seek(size)
        self.size = size
        if self._hash is not None:
            self._hash = hashlib.sha256()
            for block in kept:
                self._hash.update(block)

    @property
    def sha256(self) -> str | None:
        return self._hash.hexdigest() if self._hash is not None else None


class Outputs:
    """The node's outputs directory (None: not mounted, nothing is written, sizes and digests still count)."""

    def __init__(self, directory: Path | None, hashed: int = OUTPUT_LIST_LIMIT) -> None:
        """`hashed`: how many files (the first ones) get a sha256 (the ones a result lists)."""
        self.directory = directory
        self.hashed = hashed
        self.files: list[OutputFile] = []
        self._base = directory.resolve() if directory is not None else None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def open(self, name: str) -> OutputFile:
        """A new output file `name` (a relative path; parent directories are created)."""
        hashed = len(self.files) < self.hashed
        if self._base is None:
            output = OutputFile(name, None, None, hashed)
        else:
            path = (self._base / name).resolve()
            if not path.is_relative_to(self._base) or path == self._base:
                raise ProcessorError(f"output name {name!r} leaves the outputs directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            output = OutputFile(name, path, path.open("w+b"), hashed)
        self.files.append(output)
        return output

    def close(self, output: OutputFile) -> None:
        output.close()

    def summary(self) -> Result:
        """The `outputs` part of a result: count, total bytes and the first files with their digests."""
        files: list[JSONValue] = [
            {"name": f.name, "bytes": f.size, "sha256": f.sha256} for f in self.files[:OUTPUT_LIST_LIMIT]
        ]
        return {
            "written": self.enabled,
            "count": len(self.files),
            "bytes": sum(f.size for f in self.files),
            "files": files,
            "filesTruncated": len(self.files) > OUTPUT_LIST_LIMIT,
        }

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: Any) -> None:
        for output in self.files:
            output.close()
