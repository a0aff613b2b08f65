"""Deterministic, DNS-1123-safe names for the objects the operator creates (Jobs, ConfigMaps)."""

from __future__ import annotations

import hashlib
import math
import re

MAX_LABEL = 63
MAX_SUBDOMAIN = 253
NODES_PER_OUTPUT_SHARD = 150  # 150 outputs x 4 KiB stays well under a ConfigMap's 1 MiB


def short_hash(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _clean(text: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return text.strip("-") or "x"


def fit(base: str, suffix: str, limit: int) -> str:
    """`base` + `suffix`, cutting `base` so the whole fits in `limit` characters (a name must not end in '-')."""
    room = limit - len(suffix)
    return base[:room].rstrip("-") + suffix


def job_name(workflow: str, node: str, attempt: int) -> str:
    """`<workflow>-<node>-<attempt>-<hash>`: unique per (workflow, node, attempt), <= 63 chars (a label value)."""
    suffix = f"-{attempt}-{short_hash(workflow, node)}"
    return fit(_clean(f"{workflow}-{node}"), suffix, MAX_LABEL)


def input_configmap(workflow: str) -> str:
    return fit(workflow, "-input", MAX_SUBDOMAIN)


def output_shards(node_count: int) -> int:
    return max(1, math.ceil(node_count / NODES_PER_OUTPUT_SHARD))


def output_configmap(workflow: str, node: str, shards: int) -> str:
    """The outputs ConfigMap holding `node`'s output; large workflows spread outputs over several."""
    shard = int(short_hash(node, length=8), 16) % shards if shards > 1 else 0
    return fit(workflow, "-outputs" if shard == 0 else f"-outputs-{shard}", MAX_SUBDOMAIN)


def dns_label(text: str) -> str:
    """Make `text` a DNS label (<= 63), with a short hash when it had to change."""
    clean = _clean(text)
    if clean == text and len(text) <= MAX_LABEL:
        return text
    return fit(clean, "-" + short_hash(text, length=5), MAX_LABEL)
