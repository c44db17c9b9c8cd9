"""Durations in settings and on the command line: ``30d``, ``12h``, ``1h30m``, ``10s``, ``500ms``.

A bare number is seconds, so the older ``*_SECONDS`` style values keep working where a duration is
asked for. Used by the retention period, the shutdown grace period and ``callout prune --older-than``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(rf"(?:{_PART.pattern})+")


def parse_duration(text: str) -> timedelta:
    """``"30d"`` → 30 days; a ValueError names the accepted forms when the text is none of them."""
    value = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        seconds = float(value)
    elif _WHOLE.fullmatch(value):
        seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))
    else:
        raise ValueError(f"{text!r} is not a duration; use e.g. 30d, 12h, 1h30m, 10s, 500ms or seconds")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(duration: timedelta) -> str:
    """The shortest ``parse_duration`` text for a duration, e.g. ``timedelta(days=30)`` → ``"30d"``."""
    milliseconds = round(duration.total_seconds() * 1000)
    if milliseconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read true as 1 s: `retention = true` must not prune everything
        raise ValueError("a duration is text such as 30d or a number of seconds, not true or false")
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


def parse_duration_with_unit(text: str) -> timedelta:
    """Like ``parse_duration``, but a bare number other than 0 is refused instead of read as seconds.

    For periods measured in days (retention): a forgotten unit must not turn ``30`` into 30 seconds
    and prune the whole delivery log.
    """
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value) and float(value) != 0:
        raise ValueError(f"{value!r} has no unit; write e.g. {value}d or {value}h (0 is allowed)")
    return parse_duration(value)


def _coerce_with_unit(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return parse_duration_with_unit(value) if isinstance(value, str) else _coerce(value)


# A settings field type: accepts "30d", seconds as a number, or a timedelta; shows as "30d".
Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration, return_type=str)]
# The same, but a number other than 0 must carry its unit (for long periods such as retention).
DurationWithUnit = Annotated[
    timedelta, BeforeValidator(_coerce_with_unit), PlainSerializer(format_duration, return_type=str)
]
