"""Deterministic, DNS-1123-safe names for the objects the operator creates (Jobs, ConfigMaps).

Job names are unique by construction: the node's index in the (immutable) DAG and the attempt tell nodes and
attempts of one Workflow apart, and a fragment hashed from the Workflow's uid tells apart two Workflows whose
names were cut to the same prefix, or one deleted and recreated under the same name.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re

MAX_LABEL = 63
MAX_SUBDOMAIN = 253
NODES_PER_OUTPUT_SHARD = 150  # 150 outputs x 4 KiB stays well under a ConfigMap's 1 MiB
UID_FRAGMENT = 8  # hex characters of sha256(workflow uid): 32 bits between two workflows with one cut prefix

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def short_hash(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _clean(text: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return text.strip("-") or "x"


def fit(base: str, suffix: str, limit: int) -> str:
    """`base` + `suffix`, cutting `base` so the whole fits in `limit` characters.

    The cut never leaves a '-' or '.' in front of the suffix (`a.-input` is not a valid name).
    """
    room = limit - len(suffix)
    return base[:room].rstrip("-.") + suffix


def is_subdomain(name: str) -> bool:
    return len(name) <= MAX_SUBDOMAIN and _SUBDOMAIN.match(name) is not None


def job_name(workflow: str, uid: str, node: str, index: int, attempt: int) -> str:
    """`<workflow>-<node>-<index>-<attempt>-<uid hash>`, cut to 63 characters (a label value).

    Unique per (Workflow incarnation, node, attempt) by construction: `index` is the node's position in the
    immutable DAG, `attempt` its try, the hash the Workflow's uid; only the readable prefix is ever cut.
    """
    suffix = f"-{index}-{attempt}-{uid_fragment(workflow, uid)}"
    return fit(_clean(f"{workflow}-{node}"), suffix, MAX_LABEL)


@functools.lru_cache(maxsize=4096)
def uid_fragment(workflow: str, uid: str) -> str:
    """The Workflow incarnation's hash in its Job names: one sha256 per Workflow, not one per Job name."""
    return short_hash(workflow, uid, length=UID_FRAGMENT)


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
