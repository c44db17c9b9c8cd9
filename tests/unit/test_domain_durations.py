"""Durations as settings and flags give them: parsing and the shortest text back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from callout.domain.durations import (
    Duration,
    DurationWithUnit,
    format_duration,
    parse_duration,
    parse_duration_with_unit,
)


class _Holder(BaseModel):
    period: Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("1h30m", timedelta(minutes=90)),
        ("10s", timedelta(seconds=10)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        ("90", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        (" 1H ", timedelta(hours=1)),
    ],
)
def test_parse_duration_reads_each_unit(text: str, expected: timedelta) -> None:
    """Each unit, combinations of units and a bare number of seconds parse to the same timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "30x", "-5s", "5s-", "1e3", "h1", "30 days"])
def test_parse_duration_refuses_other_text(text: str) -> None:
    """Text that is not a number of units is a ValueError naming the accepted forms."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**12))
def test_format_duration_round_trips(milliseconds: int) -> None:
    """Formatting a whole number of milliseconds and parsing the text gives the same duration."""
    duration = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(duration)) == duration


def test_duration_field_accepts_text_and_numbers_and_shows_text() -> None:
    """A Duration field takes "30d" or seconds and dumps as the short text."""
    assert _Holder(period="30d").period == timedelta(days=30)  # type: ignore[arg-type]
    assert _Holder(period=10).period == timedelta(seconds=10)  # type: ignore[arg-type]
    assert _Holder(period=timedelta(hours=2)).model_dump(mode="json") == {"period": "2h"}


@pytest.mark.parametrize("flag", [True, False])
def test_duration_field_refuses_a_boolean(flag: bool) -> None:
    """A TOML `true` or `false` is no duration (pydantic alone would read `true` as one second)."""
    with pytest.raises(ValueError, match="not true or false"):
        _Holder(period=flag)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["30", "1.5", " 7 "])
def test_a_period_with_unit_refuses_a_bare_number(text: str) -> None:
    """For retention a bare number is refused, naming the units, instead of being read as seconds."""
    with pytest.raises(ValueError, match="has no unit"):
        parse_duration_with_unit(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("0", timedelta(0)), ("30d", timedelta(days=30)), ("90m", timedelta(minutes=90))]
)
def test_a_period_with_unit_reads_zero_and_units(text: str, expected: timedelta) -> None:
    """0 (keep forever, for retention) and numbers with units parse as usual."""
    assert parse_duration_with_unit(text) == expected


class _Retained(BaseModel):
    period: DurationWithUnit


@pytest.mark.parametrize("value", [30, 2.5, "30"])
def test_duration_with_unit_field_refuses_bare_numbers(value: object) -> None:
    """A DurationWithUnit field (retention) refuses 30 and "30" alike, from TOML numbers or variables."""
    with pytest.raises(ValueError, match="has no unit"):
        _Retained(period=value)  # type: ignore[arg-type]


def test_duration_with_unit_field_takes_zero_and_text() -> None:
    """0 and "30d" are accepted by a DurationWithUnit field."""
    assert (_Retained(period=0).period, _Retained(period="30d").period) == (timedelta(0), timedelta(days=30))  # type: ignore[arg-type]
