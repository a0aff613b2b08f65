"""chunking-processor: split the data into chunks of `chunkSize` characters, written as files, streaming.

Each chunk is an exact byte range of its source (the chunks of a source concatenated are the source), cut
at character boundaries (a byte that is not UTF-8 counts as one character). With `lines: true` a chunk ends
at a line end: it holds whole lines up to `chunkSize` characters, and a longer line is cut at `chunkSize`.
Chunks are written to `outputs/chunk-00000`, `chunk-00001`, ... (numbers run on across sources; a chunk
never spans two sources); without an outputs directory nothing is written and the preview is the same.
Memory stays bounded by one read block, whatever the sizes of the input and of `chunkSize`.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.processors.contract import Context, JSONValue, ProcessorError, Result, Source, config_bool, config_int
from switchyard.processors.streams import OutputFile, Outputs, decode, encode, read_range, utf8_blocks

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_MAX_CHUNKS = 10_000
CHUNK_LIST_LIMIT = 20
DIGEST_HEX_CHARS = 12
NAME_FORMAT = "chunk-{:05d}"


@dataclass
class _Chunk:
    file: OutputFile
    index: int
    start: int  # byte offset of the chunk in its source
    chars: int = 0
    line_end: int | None = None  # byte offset just after the chunk's last line end (lines mode)
    chars_at_line_end: int = 0


class _Chunker:
    def __init__(self, outputs: Outputs, chunk_size: int, lines: bool, max_chunks: int | None) -> None:
        self.outputs = outputs
        self.chunk_size = chunk_size
        self.lines = lines
        self.max_chunks = max_chunks
        self.count = 0
        self.total_bytes = 0
        self.total_chars = 0
        self.listed: list[JSONValue] = []
        self.current: _Chunk | None = None
        self.source: Source | None = None

    def _open(self, start: int) -> _Chunk:
        if self.max_chunks is not None and self.count >= self.max_chunks and self.outputs.enabled:
            raise ProcessorError(
                f"the data gives more than {self.max_chunks} chunks of {self.chunk_size} characters; "
                "raise config.chunkSize (or config.maxChunks)",
                {"chunkSize": self.chunk_size, "maxChunks": self.max_chunks},
            )
        chunk = _Chunk(self.outputs.open(NAME_FORMAT.format(self.count)), self.count, start)
        self.count += 1
        self.current = chunk
        return chunk

    def _close(self) -> None:
        chunk, self.current = self.current, None
        if chunk is None:
            return
        self.outputs.close(chunk.file)
        if chunk.index < CHUNK_LIST_LIMIT:
            self.listed.append(
                {
                    "index": chunk.index,
                    "file": chunk.file.name,
                    "chars": chunk.chars,
                    "bytes": chunk.file.size,
                    "sha256": (chunk.file.sha256 or "")[:DIGEST_HEX_CHARS],
                }
            )

    def chunk_source(self, source: Source) -> None:
        self.source = source
        offset = 0  # byte offset of the current block in the source
        with source.open() as handle:
            for block in utf8_blocks(handle):
                self._block(block, offset)
                offset += len(block)
        self.total_bytes += offset
        self._close()

    def _block(self, block: bytes, offset: int) -> None:
        ascii_only = block.isascii()
        text: bytes | str = block if ascii_only else decode(block)
        newline: bytes | str = b"\n" if ascii_only else "\n"
        length = len(text)
        self.total_chars += length
        i = 0  # char index of the first character of `text` not yet written
        b = 0  # its byte index in `block`

        def byte_index(char: int) -> int:
            return char if ascii_only else b + len(encode(str(text[i:char])))

        count_only = not self.outputs.enabled and not self.lines
        while i < length:
            if count_only and self.count >= CHUNK_LIST_LIMIT:
                self._count_only(length - i)
                return
            chunk = self.current or self._open(offset + b)
            room = self.chunk_size - chunk.chars
            # The rest of the block fits; in lines mode also when it fills the chunk exactly, as what follows
            # (a line end, more of the line, or nothing) decides where the chunk ends.
            if length - i < room or (self.lines and length - i == room):
                if self.lines and (nl := text.rfind(newline, i)) >= 0:  # type: ignore[arg-type]
                    chunk.line_end = offset + byte_index(nl + 1)
                    chunk.chars_at_line_end = chunk.chars + nl + 1 - i
                chunk.file.write(block[b:])
                chunk.chars += length - i
                return
            cut = i + room
            if self.lines and (nl := text.rfind(newline, i, cut)) >= 0:  # type: ignore[arg-type]
                cut = nl + 1
            elif self.lines and chunk.line_end is not None:
                if chunk.line_end == offset + b:  # it is full and ends at a line end
                    self._close()
                else:
                    self._cut_back(chunk, offset + b)
                continue
            cut_byte = byte_index(cut)
            chunk.file.write(block[b:cut_byte])
            chunk.chars += cut - i
            i, b = cut, cut_byte
            self._close()

    def _count_only(self, length: int) -> None:
        """Past the listed chunks, with nothing written, chunks are only counted."""
        chunk = self.current
        if chunk is not None and length < self.chunk_size - chunk.chars:
            chunk.chars += length
            return
        if chunk is not None:
            length -= self.chunk_size - chunk.chars
            self.current = None
        self.count += length // self.chunk_size
        if length % self.chunk_size:
            self.current = _Chunk(OutputFile("", None, None, hashed=False), self.count, 0, length % self.chunk_size)
            self.count += 1

    def _cut_back(self, chunk: _Chunk, written_to: int) -> None:
        """End `chunk` at its last line end, moving what follows (written already) into a new chunk."""
        assert chunk.line_end is not None and self.source is not None
        path, start, line_end = self.source.path, chunk.start, chunk.line_end
        moved_chars = chunk.chars - chunk.chars_at_line_end
        chunk.file.truncate(line_end - start, read_range(path, start, line_end))
        chunk.chars = chunk.chars_at_line_end
        self._close()
        following = self._open(line_end)
        for data in read_range(path, line_end, written_to):
            following.file.write(data)
        following.chars = moved_chars


def process(ctx: Context) -> Result:
    chunk_size = config_int(ctx.config, "chunkSize", DEFAULT_CHUNK_SIZE, minimum=1)
    assert chunk_size is not None  # a default is given
    lines = config_bool(ctx.config, "lines")
    max_chunks = config_int(ctx.config, "maxChunks", DEFAULT_MAX_CHUNKS, minimum=1)
    with Outputs(ctx.outputs_dir, hashed=CHUNK_LIST_LIMIT) as outputs:
        chunker = _Chunker(outputs, chunk_size, lines, max_chunks)
        for source in ctx.sources:
            chunker.chunk_source(source)
        result: Result = {
            "chunkSize": chunk_size,
            "lines": lines,
            "chunkCount": chunker.count,
            "totalBytes": chunker.total_bytes,
            "totalChars": chunker.total_chars,
            "sources": len(ctx.sources),
            "chunks": chunker.listed,
            "chunksTruncated": chunker.count > CHUNK_LIST_LIMIT,
        }
        if outputs.enabled:
            result["outputs"] = outputs.summary()
    return result
