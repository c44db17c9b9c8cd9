"""The retry policy: which statuses retry, full-jitter back-off, limits, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.domain.retry import RetryPolicy, Verdict, classify, parse_retry_after

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class TestClassify:
    @pytest.mark.parametrize("status", [None, 408, 425, 429, 500, 502, 503, 504, 599])
    def test_transient_outcomes_retry(self, status: int | None) -> None:
        """No response, 408, 425, 429 and every 5xx are retried."""
        assert classify(status) is Verdict.RETRY

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 301, 302])
    def test_other_client_errors_and_redirects_fail(self, status: int) -> None:
        """Other 4xx (and unfollowed redirects) fail at once."""
        assert classify(status) is Verdict.FAILED

    @pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
    def test_2xx_succeeds(self, status: int) -> None:
        """Any 2xx is success."""
        assert classify(status) is Verdict.SUCCEEDED


class TestBackoff:
    @given(st.integers(min_value=1, max_value=100), st.integers(min_value=0, max_value=2**32))
    def test_backoff_stays_within_the_exponential_bound(self, attempts: int, seed: int) -> None:
        """Full jitter never exceeds min(max_delay, base * 2^(attempts-1)) nor goes negative."""
        policy = RetryPolicy(base_delay=timedelta(seconds=1), max_delay=timedelta(minutes=10))
        delay = policy.backoff(attempts, random.Random(seed))
        bound = min(timedelta(minutes=10), timedelta(seconds=2 ** min(attempts - 1, 40)))
        assert timedelta(0) <= delay <= bound

    def test_max_attempts_stops_retrying(self) -> None:
        """After max_attempts attempts no next attempt is scheduled."""
        assert RetryPolicy(max_attempts=3).next_attempt(3, NOW, NOW) is None

    def test_single_attempt_behaves_like_zitadel(self) -> None:
        """max_attempts=1 never retries."""
        assert RetryPolicy(max_attempts=1).next_attempt(1, NOW, NOW) is None

    def test_max_age_stops_retrying(self) -> None:
        """A retry that would fall beyond max age is not scheduled."""
        policy = RetryPolicy(max_age=timedelta(minutes=1))
        assert policy.next_attempt(1, NOW - timedelta(minutes=2), NOW) is None

    def test_retry_after_is_a_minimum(self) -> None:
        """The next attempt is no sooner than Retry-After."""
        policy = RetryPolicy(base_delay=timedelta(milliseconds=1))
        due = policy.next_attempt(1, NOW, NOW, timedelta(seconds=40))
        assert due is not None
        assert due >= NOW + timedelta(seconds=40)


class TestRetryAfter:
    def test_seconds_are_read(self) -> None:
        """A delta in seconds is read."""
        assert parse_retry_after("120", NOW) == timedelta(seconds=120)

    def test_http_date_is_read(self) -> None:
        """An HTTP date is read relative to now."""
        assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", NOW) == timedelta(minutes=1)

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
    def test_unreadable_values_are_ignored(self, value: str | None) -> None:
        """Missing or unreadable values give no minimum."""
        assert parse_retry_after(value, NOW) is None

    def test_absurd_values_are_capped_at_a_day(self) -> None:
        """A target cannot park a delivery for more than a day."""
        assert parse_retry_after("99999999", NOW) == timedelta(days=1)
