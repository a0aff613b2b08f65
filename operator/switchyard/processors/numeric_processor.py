"""numeric-processor: extract every number in the data and report count, sum, min, max and mean, streaming.

The data (the input or the upstream artifacts, see `contract`) is read a block at a time; a block is cut
after a separator (whitespace, `,;:"|)]}`), so no number is split. A run of more than 1 MiB without any
separator is cut where it stands.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from switchyard.processors.contract import Context, ProcessorError, Result, Source
from switchyard.processors.streams import decode, read_blocks, utf8_boundary

DECIMALS = 6
# Integers up to this many digits are kept exact; longer ones become floats (int() refuses >4300 digits).
MAX_EXACT_DIGITS = 15
# A number: an optional sign, digits with an optional fraction (or a bare fraction), an optional exponent.
# A sign only counts when it does not follow a word character or dot ("a-5" and "2024-01" are not
# negative); digits never start right after a digit or dot, so "1.2.3" yields 1.2 and not a stray 3.
# Written so that each branch starts with the character it consumes and checks what precedes it after
# (a lookbehind over it): the regex engine then skips other characters fast. The plain form is
#   (?:(?<![\w.])[-+])?(?<![\d.])(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?
# (tests/unit/test_processors_streaming.py checks both against it). NUMBER_ASCII is the same for ASCII bytes.
_NUMBER = (
    r"(?:[-+](?<![\w.][-+])(?:\d+(?:\.\d+)?|\.\d+)|{digit}(?<![\d.]{digit})\d*(?:\.\d+)?|\.(?<![\d.]\.)\d+)"
    r"(?:[eE][-+]?\d+)?"
)
NUMBER = re.compile(_NUMBER.format(digit=r"\d"))
NUMBER_ASCII = re.compile(_NUMBER.format(digit="[0-9]").encode())
_INTEGER = re.compile(r"[-+]?\d+")


def parse_number(token: str) -> int | float | None:
    """The value of one matched token, or None when it is too large to represent as a float."""
    if _INTEGER.fullmatch(token) and len(token.lstrip("+-")) <= MAX_EXACT_DIGITS:
        return int(token)
    value = float(token)
    return value if math.isfinite(value) else None


# Characters after which a cut cannot change what NUMBER finds: no number contains them, and none of them
# is a word character (a sign after a word character is not a sign).
_SEPARATORS = (b"\n", b" ", b",", b"\t", b";", b'"', b"]", b"}", b":", b")", b"|")
# A run without any separator longer than this is cut anyway (a number of that many digits is not finite).
MAX_CARRY = 1 << 20


@dataclass
class _Stats:
    count: int = 0
    ignored: int = 0
    int_total: int = 0
    # the exact running sum of the floats as non-overlapping partials (Shewchuk, as math.fsum keeps inside):
    # a float total rounded per block would lose 3.5 in 1e31 + 3.5 - 1e31 when the terms fall in two blocks
    partials: list[float] = field(default_factory=list)
    floats: int = 0
    low: int | float | None = None
    high: int | float | None = None

    def add_text(self, data: bytes) -> None:
        """Add the numbers in `data`, which ends after a separator or at the end of a file."""
        tokens = [t.decode() for t in NUMBER_ASCII.findall(data)] if data.isascii() else NUMBER.findall(decode(data))
        values = []
        for token in tokens:
            value = parse_number(token)
            if value is None:
                self.ignored += 1
            else:
                values.append(value)
        if not values:
            return
        self.count += len(values)
        ints = [v for v in values if type(v) is int]
        self.int_total += sum(ints)
        if len(ints) < len(values):
            floats = [v for v in values if type(v) is not int]
            self.floats += len(floats)
            for value in floats:
                self._add_float(float(value))
        low, high = min(values), max(values)
        self.low = low if self.low is None or low < self.low else self.low
        self.high = high if self.high is None or high > self.high else self.high

    def _add_float(self, x: float) -> None:
        partials, i = self.partials, 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            if not math.isfinite(high):
                raise ProcessorError("the sum of the numbers overflows a float")
            low = y - (high - x)
            if low:
                partials[i] = low
                i += 1
            x = high
        partials[i:] = [x]


def _safe_cut(data: bytes) -> int:
    """The index just after the last separator in `data` (0 if none); never inside a UTF-8 sequence."""
    return max(data.rfind(separator) for separator in _SEPARATORS) + 1


def scan(source: Source, stats: _Stats) -> None:
    """Add the numbers of `source` to `stats`, a block at a time; a cut never falls inside a number."""
    carry = b""
    with source.open() as handle:
        for block in read_blocks(handle):
            data = carry + block if carry else block
            cut = _safe_cut(data)
            if cut == 0 and len(data) > MAX_CARRY:
                cut = utf8_boundary(data)
            stats.add_text(data[:cut])
            carry = data[cut:]
    if carry:
        stats.add_text(carry)


def process(ctx: Context) -> Result:
    stats = _Stats()
    sources = ctx.sources
    for source in sources:
        scan(source, stats)
    count, int_total, low, high = stats.count, stats.int_total, stats.low, stats.high
    floats = stats.partials if stats.floats else []
    ignored = stats.ignored

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
        "sources": len(sources),
        "totalBytes": sum(source.size for source in sources),
    }


def _rounded(value: int | float | None) -> int | float | None:
    return round(value, DECIMALS) if isinstance(value, float) else value
