"""The domain error of the pure logic: an invalid spec, reported as a condition reason plus a message."""

from __future__ import annotations


class InvalidSpec(Exception):
    """A spec the operator cannot act on; `reason` is CamelCase (for conditions), `message` is for users."""

    def __init__(self, reason: str, message: str, skipped_rules: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.skipped_rules = skipped_rules  # NoRoute: the RoutingRules that failed to evaluate (for the metric)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"InvalidSpec({self.reason!r}, {self.message!r})"
