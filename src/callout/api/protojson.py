"""Reading and writing protojson: camelCase or snake_case keys in, lowerCamelCase out, typed errors.

A ``Fields`` view wraps one JSON object of a request and knows its path, so a wrong type or an
unknown enum name becomes an InvalidArgument that names the field. ``null`` counts as unset, as in
protojson.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any, TypeVar

from callout.errors import InvalidArgument

_E = TypeVar("_E", bound=enum.IntEnum)
_SNAKE_PART = re.compile(r"_([a-z0-9])")
_DURATION = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,9}))?s")


_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


@functools.lru_cache(maxsize=512)  # field names: a handful, looked up for every absent field of every message
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _camel(name: str) -> str:
    return _SNAKE_PART.sub(lambda match: match.group(1).upper(), name)


def with_protojson_names(message: dict[str, Any]) -> dict[str, Any]:
    """The message with protojson's key names: lowerCamelCase keys, ``null`` (unset) fields left out.

    Request targets see what ZITADEL's marshaller would write for the request; a key sent both ways
    keeps its lowerCamelCase value, as reading does. Only for callout's own messages, which have no
    map fields (whose keys are data, not names). Iterative, so no nesting can exhaust the stack.
    """
    renamed: dict[str, Any] = {}
    pending: list[tuple[Any, Any]] = [(message, renamed)]  # (source container, its copy to fill)
    while pending:
        source, copy = pending.pop()
        if isinstance(source, dict):
            for name, value in _protojson_items(source):
                copy[name] = _empty_copy(value, pending)
        else:
            copy.extend([_empty_copy(item, pending) for item in source])
    return renamed


def _protojson_items(message: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in message.items():
        if value is None:
            continue
        name = _camel(key) if "_" in key else key
        if name != key and name in message and message[name] is not None:
            continue  # the lowerCamelCase spelling wins
        yield name, value


def _empty_copy(value: Any, pending: list[tuple[Any, Any]]) -> Any:
    """A leaf itself; for a container an empty one of its kind, queued to be filled from ``value``."""
    if isinstance(value, dict):
        copy: Any = {}
    elif isinstance(value, list):
        copy = []
    else:
        return value
    pending.append((value, copy))
    return copy


def invalid(path: str, problem: str) -> InvalidArgument:
    """Build the error for a field that cannot be read."""
    return InvalidArgument("Errors.Request.Invalid", f"{path}: {problem}" if path else problem)


class Fields:
    """A typed, read-only view of one JSON object in a request."""

    def __init__(self, data: object, path: str = "") -> None:
        if not isinstance(data, dict):
            raise invalid(path, "must be a JSON object")
        self._data: dict[str, Any] = data
        self._path = path

    def _field_path(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def raw(self, name: str) -> Any:
        """Return the value under the camelCase or snake_case key; None when absent or null."""
        value = self._data.get(name)
        return self._data.get(_snake(name)) if value is None else value

    def has(self, name: str) -> bool:
        """Tell whether the field is present and not null."""
        return self.raw(name) is not None

    def string(self, name: str, *, max_length: int | None = None) -> str | None:
        """Read an optional string, rejecting other types and overlong values."""
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(self._field_path(name), "must be a string")
        if max_length is not None and len(value) > max_length:
            raise invalid(self._field_path(name), f"must be at most {max_length} characters")
        return value

    def required_string(self, name: str, *, max_length: int = 200) -> str:
        """Read a string that must be present and non-empty."""
        value = self.string(name, max_length=max_length)
        if not value:
            raise invalid(self._field_path(name), "is required")
        return value

    def boolean(self, name: str) -> bool | None:
        """Read an optional bool."""
        value = self.raw(name)
        if value is None or isinstance(value, bool):
            return value
        raise invalid(self._field_path(name), "must be true or false")

    def uint(self, name: str, *, bits: int = 64) -> int | None:
        """Read an unsigned integer sent as a JSON number or a decimal string (protojson uint64)."""
        value = self.raw(name)
        if value is None:
            return None
        number = _integer(value)
        if number is None or not 0 <= number < (1 << bits):
            raise invalid(self._field_path(name), f"must be an unsigned {bits}-bit integer")
        return number

    def enum(self, name: str, enum_type: type[_E], prefix: str, *, unknown_numbers_as: _E | None = None) -> _E | None:
        """Read an enum given by its full name (``PREFIX_MEMBER``) or its number.

        protojson rejects unknown names and numbers beyond int32 but accepts any other number; pass
        ``unknown_numbers_as`` where ZITADEL then falls back to a default (a ``switch`` default), and
        leave it out where an unknown number fails there too (docs/differences.md).
        """
        value = self.raw(name)
        if value is None:
            return None
        member = _enum_member(value, enum_type, prefix)
        if member is None and unknown_numbers_as is not None and _int32(value) is not None:
            return unknown_numbers_as
        if member is None:
            raise invalid(self._field_path(name), f"unknown value {str(value)[:64]!r}")
        return member

    def duration(self, name: str) -> timedelta | None:
        """Read a protojson duration such as ``"10s"`` or ``"1.500s"``."""
        value = self.raw(name)
        if value is None:
            return None
        parsed = parse_duration(value) if isinstance(value, str) else None
        if parsed is None:
            raise invalid(self._field_path(name), 'must be a duration such as "10s"')
        return parsed

    def timestamp(self, name: str) -> datetime | None:
        """Read an RFC 3339 timestamp with an offset (naive ones are rejected)."""
        value = self.raw(name)
        if value is None:
            return None
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            raise invalid(self._field_path(name), "must be an RFC 3339 timestamp with an offset")
        return parsed

    def message(self, name: str) -> Fields | None:
        """Read an optional nested message."""
        value = self.raw(name)
        return None if value is None else Fields(value, self._field_path(name))

    def messages(self, name: str) -> Iterator[Fields]:
        """Read a repeated message field."""
        for index, item in enumerate(self._list(name)):
            yield Fields(item, f"{self._field_path(name)}[{index}]")

    def strings(self, name: str, *, max_length: int = 200) -> list[str]:
        """Read a repeated string field."""
        items = self._list(name)
        for index, item in enumerate(items):
            if not isinstance(item, str) or len(item) > max_length:
                raise invalid(f"{self._field_path(name)}[{index}]", f"must be a string of at most {max_length}")
        return items

    def _list(self, name: str) -> list[Any]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid(self._field_path(name), "must be a list")
        return value

    def oneof(self, *names: str, required: bool = True) -> str | None:
        """Return which member of a oneof is set; two members, or none when required, is invalid."""
        present = [name for name in names if self.has(name)]
        if len(present) > 1:
            raise invalid(self._path, f"only one of {', '.join(names)} may be set")
        if not present and required:
            raise invalid(self._path, f"one of {', '.join(names)} is required")
        return present[0] if present else None


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value):
        return int(value)
    return None


def _int32(value: object) -> int | None:
    """An enum number as protojson reads one: a JSON number (not a string) within int32."""
    number = None if isinstance(value, str) else _integer(value)
    return number if number is not None and -(1 << 31) <= number < (1 << 31) else None


def _enum_member(value: object, enum_type: type[_E], prefix: str) -> _E | None:
    if isinstance(value, str) and value.startswith(prefix):
        return enum_type.__members__.get(value[len(prefix) :])
    number = _int32(value)
    if number is not None and number in enum_type._value2member_map_:
        return enum_type(number)
    return None


def parse_duration(text: str) -> timedelta | None:
    """Parse ``-?N(.fraction)?s``; return None when it does not match or is absurdly large."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    sign, seconds, fraction = match.groups()
    total = Decimal(seconds + "." + (fraction or "0"))
    if total > 315_576_000_000:  # protobuf's Duration limit, about 10,000 years
        return None
    # Round sub-microsecond remainders away from zero so "270.000000001s" stays above 270 s.
    micros = int((total * 1_000_000).to_integral_value(rounding=ROUND_CEILING))
    return timedelta(microseconds=-micros if sign else micros)


def parse_timestamp(text: str) -> datetime | None:
    """Parse RFC 3339 with ``Z`` or an offset into aware UTC; up to 9 fractional digits."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    base, fraction, offset = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if offset in {"Z", "z"} else offset
    try:
        return datetime.fromisoformat(f"{base.replace(' ', 'T').upper()}.{micros}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):  # impossible dates, or an offset leaving years 1..9999
        return None


@functools.lru_cache(maxsize=1024)  # safe for equal instants in other zones: the text is UTC's
def format_timestamp(moment: datetime) -> str:
    """Format like protojson: UTC, ``Z``, and 0, 3 or 6 fractional digits."""
    moment = moment.astimezone(UTC)
    # Not strftime: glibc does not zero-pad years below 1000.
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}"
    micros = moment.microsecond
    if micros == 0:
        return text + "Z"
    if micros % 1000 == 0:
        return f"{text}.{micros // 1000:03d}Z"
    return f"{text}.{micros:06d}Z"


def format_duration(duration: timedelta) -> str:
    """Format like protojson: ``"10s"``, ``"1.500s"``, ``"0.000001s"``."""
    micros = duration // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, rest = divmod(abs(micros), 1_000_000)
    if rest == 0:
        return f"{sign}{seconds}s"
    if rest % 1000 == 0:
        return f"{sign}{seconds}.{rest // 1000:03d}s"
    return f"{sign}{seconds}.{rest:06d}s"


def format_uint64(value: int) -> str:
    """uint64 values are strings in protojson."""
    return str(value)


def enum_name(member: enum.IntEnum, prefix: str) -> str:
    """The protojson name of an enum member."""
    return prefix + member.name
