"""Byte-exact emulation of Go's ``encoding/json.Marshal``, so payload bodies match ZITADEL's.

Rules (Go 1.22+, ``SetEscapeHTML(true)`` as ``json.Marshal`` uses):

- compact output, no whitespace;
- a ``dict`` keeps its insertion order (it stands for a Go struct, whose fields are emitted in
  declaration order); a :class:`GoMap` — or every mapping when ``sort_keys=True`` — stands for a Go
  map and is emitted with its keys sorted by their UTF-8 bytes, as Go does;
- strings: ``"`` and ``\\`` backslash-escaped; ``\\b \\f \\n \\r \\t`` short escapes; other control
  characters as ``\\u00xx`` (lowercase hex); ``<``, ``>``, ``&`` as ``\\u003c``, ``\\u003e``,
  ``\\u0026``; U+2028/U+2029 as ``\\u2028``/``\\u2029``; surrogate code points (which Go strings
  cannot hold; they stand for invalid UTF-8) as ``\\ufffd``; everything else raw UTF-8;
- ``int`` as decimal; ``float`` like Go's float64 encoder (ES6 style: ``1e+21``, ``1e-7``,
  ``0.000001``, ``5`` for ``5.0``, ``-0``); NaN and infinities are rejected like in Go;
- ``bytes`` as standard padded base64 (Go's ``[]byte``);
- aware ``datetime`` as RFC 3339 with trimmed nanoseconds (Go's ``time.Time``);
- :class:`RawJSON` (Go's ``json.RawMessage`` or a ``json.Marshaler``'s output, such as protojson)
  is validated, compacted and HTML-escaped exactly as Go post-processes marshaler output.

Every target call encodes a payload, so values without floats go through orjson (whose string
escaping is Go's but for ``<>&`` and U+2028/U+2029, escaped afterwards in the output bytes); floats,
whose formatting differs, and anything orjson refuses take the pure-Python encoder.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from callout.domain.json_numbers import refuse_constant

_HEX = "0123456789abcdef"
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_RAW_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.DOTALL)
_RAW_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))
_RAW_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
_HTML_UNSAFE_BYTES = b"<>&\xe2"  # \xe2 starts U+2028 and U+2029 (and other characters) in UTF-8
_MAPPINGS = (dict, Mapping)  # tuples, not ``dict | Mapping``: a union would be built on every check
_SEQUENCES = (list, tuple)
_NATIVE_LEAVES = frozenset({str, int, bool, type(None)})
_FAST_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class GoMap(dict[str, Any]):
    """A mapping encoded like a Go map: keys sorted by their UTF-8 bytes (a plain dict keeps its order)."""


class RawJSON:
    """Already-encoded JSON embedded verbatim (after Go's compaction and HTML escaping)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | str) -> None:
        self.data = data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJSON) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"RawJSON({self.data!r})"


_CONVERTED_LEAVES = (str, int, RawJSON, bytes, bytearray, memoryview, datetime)


def encode_go_json(value: object, *, sort_keys: bool = False, string_keys: Collection[str] = ()) -> bytes:
    """Encode ``value`` exactly as Go's ``json.Marshal`` would encode the equivalent Go value.

    With ``sort_keys=True`` every mapping is treated as a Go map (sorted keys); otherwise only
    :class:`GoMap` instances are sorted and plain dicts keep their insertion order.
    ``string_keys`` names top-level keys of a dict ``value`` whose values hold nothing but strings
    (and lists and dicts of them), which the check for the fast path then skips.
    """
    if _top_level_applies(value, string_keys) if string_keys else _fast_path_applies(value):
        try:
            options = _FAST_OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _FAST_OPTIONS
            encoded = orjson.dumps(value, default=_fast_default, option=options)
        except TypeError:  # orjson's JSONEncodeError: a lone surrogate, a huge int, a non-str key, ...
            pass
        else:
            return _escape_html(encoded)
    return encode_go_json_pure(value, sort_keys=sort_keys)


def encode_go_json_pure(value: object, *, sort_keys: bool = False) -> bytes:
    """The pure-Python encoder: the reference :func:`encode_go_json` must always agree with."""
    parts: list[str] = []
    _encode(value, parts, sort_keys)
    return "".join(parts).encode("utf-8", "surrogateescape")


def _fast_path_applies(value: object) -> bool:
    """Whether ``value`` holds only types the orjson path encodes as Go does (no floats, nothing unknown)."""
    items: Iterable[object]
    if type(value) is dict:  # exact types first: isinstance(a list, Mapping) runs ABC machinery
        items = value.values()
    elif type(value) is list:
        items = value
    elif isinstance(value, _MAPPINGS):
        items = value.values()
    elif isinstance(value, _SEQUENCES):
        items = value
    else:
        return type(value) in _NATIVE_LEAVES or isinstance(value, _CONVERTED_LEAVES)
    for item in items:  # noqa: SIM110 - a loop, not all(): no generator frame per container
        # Leaves are checked inline: this walk runs over every payload, and most of it is strings.
        if type(item) not in _NATIVE_LEAVES and not _fast_path_applies(item):
            return False
    return True


def _top_level_applies(value: object, string_keys: Collection[str]) -> bool:
    if type(value) is not dict:
        return _fast_path_applies(value)
    for key, item in value.items():
        if key not in string_keys and type(item) not in _NATIVE_LEAVES and not _fast_path_applies(item):
            return False
    return True


def _fast_default(value: object) -> object:
    """Convert what orjson passes through (subclasses, GoMap, RawJSON, bytes, datetime) as Go would."""
    if isinstance(value, GoMap):
        # Go sorts map keys by their UTF-8 bytes, which is code point order; non-str keys make orjson
        # fail over to the pure encoder.
        return dict(sorted(value.items()))
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, RawJSON):
        return orjson.Fragment(compact_raw_json(value.data))
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return format_rfc3339_nano(value)
    raise TypeError(f"json: unsupported type: {type(value).__name__}")


def _escape_html(encoded: bytes) -> bytes:
    # In compact JSON these characters can only occur inside strings, so replacing them anywhere is exact.
    if len(encoded.translate(None, _HTML_UNSAFE_BYTES)) == len(encoded):  # one C pass, the usual answer
        return encoded
    for needle, escape in _RAW_ESCAPES + _RAW_SEPARATORS:
        encoded = encoded.replace(needle, escape)
    return encoded


def quote_go_string(text: str) -> str:
    """Return ``text`` as a JSON string literal with Go's escaping rules."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def format_go_float(number: float) -> str:
    """Format a float64 like Go's JSON encoder (shortest round-trip digits, ES6 exponent cut-offs)."""
    if not math.isfinite(number):
        raise ValueError(f"json: unsupported value: {number!r}")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    exact = Decimal(repr(number))
    if 1e-6 <= abs(number) < 1e21:
        return _fixed(exact)
    return _scientific(exact)


def format_rfc3339_nano(moment: datetime) -> str:
    """Format an aware datetime as Go's ``time.RFC3339Nano`` (trailing fraction zeros trimmed, ``Z`` for UTC)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a naive datetime has no RFC 3339 representation; attach a timezone")
    # Keyed with the offset too: equal instants in other zones compare (and hash) equal but print differently.
    return _format_rfc3339_nano(moment, offset)


@functools.lru_cache(maxsize=1024)
def _format_rfc3339_nano(moment: datetime, offset: timedelta) -> str:
    # Cached: the events of one push share their creation time, and every delivery payload prints it.
    stamp = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return stamp + (f".{fraction}" if fraction else "") + _format_offset(offset)


def compact_raw_json(data: bytes) -> bytes:
    """Validate raw JSON and compact it as Go does for marshaler output (whitespace dropped, HTML escaped)."""
    try:
        json.loads(data.decode("utf-8", "surrogateescape"), parse_constant=refuse_constant)
    except ValueError as exc:
        raise ValueError(f"json: invalid raw JSON: {exc}") from None
    return _escape_html(_RAW_TOKENS.sub(lambda match: match.group() if match.group()[:1] == b'"' else b"", data))


def _encode(value: object, parts: list[str], sort_keys: bool) -> None:
    if value is None:
        parts.append("null")
    elif isinstance(value, bool):
        parts.append("true" if value else "false")
    elif isinstance(value, str):
        parts.append(quote_go_string(value))
    elif isinstance(value, int):
        parts.append(str(int(value)))
    elif isinstance(value, float):
        parts.append(format_go_float(value))
    else:
        _encode_composite(value, parts, sort_keys)


def _encode_composite(value: object, parts: list[str], sort_keys: bool) -> None:
    if isinstance(value, Mapping):
        _encode_mapping(value, parts, sort_keys)
    elif isinstance(value, list | tuple):
        _encode_sequence(value, parts, sort_keys)
    elif isinstance(value, RawJSON):
        parts.append(compact_raw_json(value.data).decode("utf-8", "surrogateescape"))
    elif isinstance(value, bytes | bytearray | memoryview):
        parts.append('"' + base64.b64encode(bytes(value)).decode("ascii") + '"')
    elif isinstance(value, datetime):
        parts.append('"' + format_rfc3339_nano(value) + '"')
    else:
        raise TypeError(f"json: unsupported type: {type(value).__name__}")


def _encode_mapping(mapping: Mapping[Any, Any], parts: list[str], sort_keys: bool) -> None:
    items = [(_map_key(key), item) for key, item in mapping.items()]
    if sort_keys or isinstance(mapping, GoMap):
        items.sort(key=lambda pair: pair[0].encode("utf-8", "surrogatepass"))
    parts.append("{")
    for index, (key, item) in enumerate(items):
        parts.append(("," if index else "") + quote_go_string(key) + ":")
        _encode(item, parts, sort_keys)
    parts.append("}")


def _encode_sequence(items: list[Any] | tuple[Any, ...], parts: list[str], sort_keys: bool) -> None:
    parts.append("[")
    for index, item in enumerate(items):
        parts.append("," if index else "")
        _encode(item, parts, sort_keys)
    parts.append("]")


def _map_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))
    raise TypeError(f"json: unsupported map key type: {type(key).__name__}")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    return "\\u" + "".join(_HEX[(code >> shift) & 0xF] for shift in (12, 8, 4, 0))


def _fixed(exact: Decimal) -> str:
    return format(exact.normalize(), "f")


def _scientific(exact: Decimal) -> str:
    sign, digits, exponent = exact.normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    # strconv pads the exponent to two digits; encoding/json then strips the pad of negative ones.
    suffix = f"e+{power:02d}" if power >= 0 else f"e-{-power}"
    return ("-" if sign else "") + mantissa + suffix


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return "Z"
    sign = "+" if seconds > 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
