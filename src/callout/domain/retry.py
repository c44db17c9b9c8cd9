"""The retry policy of durable deliveries: which outcomes retry, and when.

Retries happen on network errors, timeouts, 408, 425, 429 and 5xx; any other 4xx fails at once.
Back-off is exponential with full jitter (a random delay between 0 and the exponential bound), never
sooner than a ``Retry-After`` the target sent, and gives up after a number of attempts or an age.

See docs/behaviour.md, Events and async delivery.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Verdict(enum.StrEnum):
    """What one attempt's outcome means for the delivery."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"


def classify(status: int | None) -> Verdict:
    """Judge an attempt by its HTTP status; None means no response (network error or timeout)."""
    if status is None or status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.SUCCEEDED
    return Verdict.FAILED


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off schedule and limits; ``max_attempts=1`` behaves like ZITADEL (no retries)."""

    max_attempts: int = 12
    max_age: timedelta = timedelta(hours=24)
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(hours=1)

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Full jitter: uniform in [0, min(max_delay, base * 2^(attempts-1))]."""
        ceiling: timedelta = min(self.max_delay, self.base_delay * (2 ** max(0, min(attempts - 1, 40))))
        fraction: float = (rng or random).random()
        return ceiling * fraction

    def next_attempt(
        self, attempts: int, created: datetime, now: datetime, retry_after: timedelta | None = None
    ) -> datetime | None:
        """When to try again after ``attempts`` attempts, or None when the delivery has to fail."""
        if attempts >= self.max_attempts:
            return None
        delay = max(self.backoff(attempts), retry_after or timedelta(0))
        due = now + delay
        return None if due - created > self.max_age else due


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read ``Retry-After`` as seconds or an HTTP date; None when absent or unreadable; capped at a day."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(timedelta(seconds=int(text)), timedelta(days=1))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(moment - now, timedelta(0)), timedelta(days=1))
