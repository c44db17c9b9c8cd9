"""The clock seam and the microsecond conversions used for storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from callout.domain.clock import SystemClock, from_micros, to_micros

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TestSystemClock:
    def test_now_is_aware_utc(self) -> None:
        """The system clock returns an aware time in UTC."""
        assert SystemClock().now().utcoffset() == timedelta(0)


class TestMicros:
    def test_epoch_is_zero(self) -> None:
        """The Unix epoch is zero microseconds."""
        assert to_micros(EPOCH) == 0

    def test_one_microsecond_before_epoch(self) -> None:
        """A moment just before the epoch is negative."""
        assert to_micros(EPOCH - timedelta(microseconds=1)) == -1

    def test_from_micros_is_utc(self) -> None:
        """Converted moments carry the UTC zone."""
        assert from_micros(0).tzinfo is UTC

    @given(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(UTC))
    )
    def test_round_trip(self, moment: datetime) -> None:
        """Converting to microseconds and back gives the same moment."""
        assert from_micros(to_micros(moment)) == moment

    @given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=-(10**15), max_value=10**15))
    def test_order_is_preserved(self, first: int, second: int) -> None:
        """Earlier microsecond counts convert to earlier moments."""
        assert (from_micros(first) < from_micros(second)) is (first < second)
