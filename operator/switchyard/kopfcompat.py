"""The one place that imports kopf's private modules (`kopf._...`): what kopf uses but does not re-export.

A kopf upgrade that moves one of these breaks here, at import, and nowhere else. What each is for:
`Insights` (the object `kopf.run(insights=...)` takes), `revise_namespaces` (kopf's own rule for which
namespaces a pattern serves), `match_namespace`/`select_specific_namespaces` (its glob rules), `NamespaceName`
and `RawEvent` (their argument types), `bodies`/`dicts` (the types of kopf's storage API).
`tests/contract/test_imports.py` fails on a `kopf._` import anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable

from kopf._cogs.structs import bodies, dicts
from kopf._cogs.structs.bodies import RawEvent
from kopf._cogs.structs.references import (
    Insights,
    NamespaceName,
    match_namespace,
    select_specific_namespaces,
)
from kopf._core.reactor.observation import revise_namespaces

__all__ = [
    "Insights",
    "NamespaceName",
    "RawEvent",
    "bodies",
    "dicts",
    "matches_namespace",
    "revise_namespaces",
    "specific_namespaces",
]


def matches_namespace(namespace: str, pattern: str) -> bool:
    """kopf's glob rule for one pattern (`team-*`, `!team-tmp-*`), on a plain string."""
    return bool(match_namespace(NamespaceName(namespace), pattern))


def specific_namespaces(patterns: Iterable[str]) -> list[str]:
    """The names among `patterns` that are exact (no glob): kopf watches those without listing namespaces."""
    return [str(name) for name in select_specific_namespaces(patterns)]
