"""The shape of a protobuf message as protojson reads it, and a strict check of JSON against it.

ZITADEL decodes a ``rest_call`` answer into the method's request or response message with protojson
(``internal/api/grpc/server/connect_middleware/execution_interceptor.go``), whose defaults are strict:
an unknown field, a field given twice (by its JSON name and its proto name), two members of one oneof,
a JSON type that does not fit the field, or an unknown enum name are errors. :func:`check_message`
applies the same rules to an already parsed JSON value, so a shape written by hand for callout's own
messages today can later be generated from ``.proto`` files for any method.

``null`` is accepted for any field, as protojson treats it as unset; it is not accepted as an element
of a repeated field.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from typing import Any

_DURATION = re.compile(r"-?[0-9]+(?:\.[0-9]{1,9})?s")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_INTEGER = re.compile(r"-?[0-9]+")


class Kind(enum.Enum):
    """The JSON forms protojson accepts for a scalar or well-known field."""

    STRING = "a string"
    BOOL = "true or false"
    INTEGER = "an integer (a number or a decimal string)"
    BYTES = "base64 bytes"
    DURATION = 'a duration such as "10s"'
    TIMESTAMP = "an RFC 3339 timestamp"
    ENUM = "an enum name or number"
    MESSAGE = "a JSON object"


@dataclass(frozen=True)
class Field:
    """One field: its JSON (lowerCamelCase) name, proto (snake_case) name and what it holds."""

    json_name: str
    kind: Kind
    repeated: bool = False
    message: MessageShape | None = None
    enum_names: frozenset[str] = frozenset()
    oneof: str = ""

    @property
    def proto_name(self) -> str:
        """The snake_case name protojson also accepts."""
        return re.sub(r"([A-Z])", lambda match: "_" + match.group(1).lower(), self.json_name)


@dataclass(frozen=True)
class MessageShape:
    """A message: its full name (for error texts) and its fields."""

    name: str
    fields: tuple[Field, ...] = ()
    _by_key: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = {item.json_name: item for item in self.fields}
        keys.update({item.proto_name: item for item in self.fields})
        object.__setattr__(self, "_by_key", keys)

    def field_for(self, key: str) -> Field | None:
        """The field a JSON key names, by JSON or proto name; None when the message has no such field."""
        return self._by_key.get(key)


class MessageMismatch(ValueError):
    """JSON that protojson would refuse to read into the message; the text names the field path."""


def check_message(value: Any, shape: MessageShape, path: str = "") -> None:
    """Raise MessageMismatch unless protojson would read ``value`` into ``shape``."""
    if not isinstance(value, dict):
        raise MessageMismatch(f"{path or shape.name}: must be a JSON object")
    seen: dict[str, str] = {}
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        spec = shape.field_for(key)
        if spec is None:
            raise MessageMismatch(f"{where}: unknown field of {shape.name}")
        if spec.json_name in seen:
            raise MessageMismatch(f"{where}: duplicate field (also given as {seen[spec.json_name]!r})")
        seen[spec.json_name] = key
        if item is None:
            continue
        _claim_oneof(oneofs, spec, where)
        _check_field(item, spec, where)


def _claim_oneof(oneofs: dict[str, str], spec: Field, where: str) -> None:
    if not spec.oneof:
        return
    if spec.oneof in oneofs:
        raise MessageMismatch(f"{where}: {spec.oneof} is already set by {oneofs[spec.oneof]!r}")
    oneofs[spec.oneof] = spec.json_name


def _check_field(value: Any, spec: Field, where: str) -> None:
    if not spec.repeated:
        _check_single(value, spec, where)
        return
    if not isinstance(value, list):
        raise MessageMismatch(f"{where}: must be a list")
    for index, item in enumerate(value):
        _check_single(item, spec, f"{where}[{index}]")


def _check_single(value: Any, spec: Field, where: str) -> None:
    if spec.kind is Kind.MESSAGE:
        assert spec.message is not None
        check_message(value, spec.message, where)
    elif not _fits(value, spec):
        raise MessageMismatch(f"{where}: must be {spec.kind.value}")


def _fits(value: Any, spec: Field) -> bool:
    kind = spec.kind
    if kind is Kind.BOOL:
        return isinstance(value, bool)
    if kind is Kind.INTEGER:
        return _is_integer(value)
    if kind is Kind.ENUM:
        return value in spec.enum_names if isinstance(value, str) else _is_int32(value)
    if not isinstance(value, str):
        return False
    if kind is Kind.DURATION:
        return _DURATION.fullmatch(value) is not None
    if kind is Kind.TIMESTAMP:
        return _TIMESTAMP.fullmatch(value) is not None
    return kind is Kind.STRING or _is_base64(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) or (isinstance(value, str) and _INTEGER.fullmatch(value) is not None)


def _is_int32(value: Any) -> bool:
    return _is_integer(value) and not isinstance(value, str) and -(1 << 31) <= value < (1 << 31)


def _is_base64(text: str) -> bool:
    normalised = text.replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def enum_names(enum_type: type[enum.Enum], prefix: str) -> frozenset[str]:
    """The protojson names of an enum's members (``PREFIX_MEMBER``)."""
    return frozenset(prefix + name for name in enum_type.__members__)
