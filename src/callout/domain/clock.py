"""The clock seam: every timestamp callout stores comes from here, timezone-aware and in UTC."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock, truncated to microseconds as the database stores it."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


def to_micros(moment: datetime) -> int:
    """Convert an aware datetime into integer microseconds since the Unix epoch."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@functools.lru_cache(maxsize=1024)  # rows written together share their timestamps; datetimes are immutable
def from_micros(micros: int) -> datetime:
    """Convert integer microseconds since the Unix epoch into an aware UTC datetime."""
    seconds, rest = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
