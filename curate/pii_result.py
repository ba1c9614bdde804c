"""What scrubbing returns: `ScrubResult` and the reason codes of conversations that cannot be kept.

Its own module so that the per-process engine (pii_engine.py) and the public
front (pii.py) both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REASON_TOO_LONG = "pii.too_long"
REASON_INVALID = "pii.invalid_message"
REASON_RESIDUAL_PREFIX = "pii.residual_"  # + entity type in lower case


@dataclass(frozen=True)
class ScrubResult:
    """One scrubbed conversation. Counts and reason never contain raw values."""

    messages: list[dict]
    entity_counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None  # safe for reject rows: types and positions only
    # Only with scrub(..., return_spans=True): per message, the replaced
    # (start, end, entity) spans in the *input* text.
    spans: tuple[tuple[tuple[int, int, str], ...], ...] | None = None

    @property
    def ok(self) -> bool:
        """True when the conversation may be kept (no reason code)."""
        return self.reason is None
