"""chunking-processor: split the input into fixed-size character chunks and fingerprint each one."""

from __future__ import annotations

import hashlib

from switchyard.processors.contract import Context, JSONValue, Result, config_int

DEFAULT_CHUNK_SIZE = 1000
CHUNK_LIST_LIMIT = 20
DIGEST_HEX_CHARS = 12


def process(ctx: Context) -> Result:
    chunk_size = config_int(ctx.config, "chunkSize", DEFAULT_CHUNK_SIZE, minimum=1)
    assert chunk_size is not None  # a default is given
    text = ctx.input_text
    chunk_count = -(-len(text) // chunk_size)
    # Only the listed chunks are hashed, so chunkSize=1 over a huge input stays cheap.
    chunks: list[JSONValue] = []
    for index in range(min(chunk_count, CHUNK_LIST_LIMIT)):
        piece = text[index * chunk_size : (index + 1) * chunk_size]
        data = piece.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()[:DIGEST_HEX_CHARS]
        chunks.append({"index": index, "chars": len(piece), "bytes": len(data), "sha256": digest})
    return {
        "chunkSize": chunk_size,
        "chunkCount": chunk_count,
        "totalBytes": ctx.input_bytes,
        "totalChars": len(text),
        "chunks": chunks,
        "chunksTruncated": chunk_count > CHUNK_LIST_LIMIT,
    }
