"""numeric-processor: extract every number in the input text and report count, sum, min, max and mean."""

from __future__ import annotations

import math
import re

from switchyard.processors.contract import Context, ProcessorError, Result

DECIMALS = 6
# Integers up to this many digits are kept exact; longer ones become floats (int() refuses >4300 digits).
MAX_EXACT_DIGITS = 15
# A sign only counts when it does not follow a word character ("a-5" and "2024-01" are not negative);
# digits never start right after a digit or dot, so "1.2.3" yields 1.2 and not a stray 3.
NUMBER = re.compile(r"(?:(?<![\w.])[-+])?(?<![\d.])(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")


def parse_number(token: str) -> int | float | None:
    """The value of one matched token, or None when it is too large to represent as a float."""
    if _INTEGER.fullmatch(token) and len(token.lstrip("+-")) <= MAX_EXACT_DIGITS:
        return int(token)
    value = float(token)
    return value if math.isfinite(value) else None


def process(ctx: Context) -> Result:
    count = ignored = 0
    int_total = 0
    floats: list[float] = []
    low: int | float | None = None
    high: int | float | None = None
    for match in NUMBER.finditer(ctx.input_text):
        value = parse_number(match.group())
        if value is None:
            ignored += 1
            continue
        count += 1
        if isinstance(value, int):
            int_total += value
        else:
            floats.append(value)
        low = value if low is None or value < low else low
        high = value if high is None or value > high else high

    total: int | float | None = None
    mean: float | None = None
    if count:
        try:
            total = math.fsum([*floats, int_total]) if floats else int_total
        except OverflowError as exc:
            raise ProcessorError("the sum of the numbers overflows a float") from exc
        if not math.isfinite(total):
            raise ProcessorError("the sum of the numbers overflows a float")
        mean = total / count
    return {
        "count": count,
        "sum": _rounded(total),
        "min": _rounded(low),
        "max": _rounded(high),
        "mean": _rounded(mean),
        "ignored": ignored,
    }


def _rounded(value: int | float | None) -> int | float | None:
    return round(value, DECIMALS) if isinstance(value, float) else value
