"""The engine's ready nodes, ordered by their planned start (`logic.plan`)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping


class ReadyQueue:
    """Ready nodes, popped smallest key first (`logic.plan`: the planned start; ties by spec order). A node
    may be pushed twice; the engine skips a popped node that is no longer waiting."""

    def __init__(self, priority: Mapping[str, tuple[float, int]]) -> None:
        self._priority = priority
        self._heap: list[tuple[float, int, str]] = []

    def append(self, node: str) -> None:
        heapq.heappush(self._heap, (*self._priority[node], node))

    def pop(self) -> str:
        return heapq.heappop(self._heap)[2]

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[str]:
        return (entry[2] for entry in sorted(self._heap))


__all__ = ["ReadyQueue"]
