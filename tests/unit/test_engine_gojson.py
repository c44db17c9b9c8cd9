"""Go ``encoding/json`` emulation: strings, numbers, maps vs structs, raw messages, times, bytes."""

from __future__ import annotations

import enum
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.engine.gojson import (
    GoMap,
    RawJSON,
    compact_raw_json,
    encode_go_json,
    encode_go_json_pure,
    format_go_float,
    format_rfc3339_nano,
    quote_go_string,
)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _equivalent(decoded: Any, original: Any) -> bool:
    """Equal as JSON values; Go writes integral floats without a point, so they read back as ints."""
    if isinstance(original, float) and isinstance(decoded, int | float) and not isinstance(decoded, bool):
        return float(decoded) == original
    if isinstance(original, dict):
        return (
            isinstance(decoded, dict)
            and decoded.keys() == original.keys()
            and all(_equivalent(decoded[key], original[key]) for key in original)
        )
    if isinstance(original, list):
        return (
            isinstance(decoded, list)
            and len(decoded) == len(original)
            and all(_equivalent(item, expected) for item, expected in zip(decoded, original, strict=True))
        )
    return type(decoded) is type(original) and decoded == original


class TestStrings:
    def test_html_characters_are_escaped(self) -> None:
        """``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026``."""
        assert encode_go_json("<a&b>") == b'"\\u003ca\\u0026b\\u003e"'

    def test_line_and_paragraph_separators_are_escaped(self) -> None:
        """U+2028 and U+2029 are written as escapes."""
        assert encode_go_json("\u2028\u2029") == b'"\\u2028\\u2029"'

    def test_quote_and_backslash_get_short_escapes(self) -> None:
        """A quote and a backslash are backslash-escaped."""
        assert encode_go_json('a"b\\c') == b'"a\\"b\\\\c"'

    def test_common_controls_get_short_escapes(self) -> None:
        """Backspace, form feed, newline, carriage return and tab use their short escapes (Go 1.22+)."""
        assert encode_go_json("\b\f\n\r\t") == b'"\\b\\f\\n\\r\\t"'

    def test_other_controls_get_lowercase_unicode_escapes(self) -> None:
        """Remaining control characters become ``\\u00xx`` with lowercase hex."""
        assert encode_go_json("\x00\x1f\x0b") == b'"\\u0000\\u001f\\u000b"'

    def test_delete_character_is_raw(self) -> None:
        """DEL is not escaped, as in Go."""
        assert encode_go_json("\x7f") == b'"\x7f"'

    def test_non_ascii_is_raw_utf8(self) -> None:
        """Other non-ASCII characters are written as raw UTF-8."""
        assert encode_go_json("é😀") == '"é😀"'.encode()

    def test_lone_surrogate_becomes_replacement_escape(self) -> None:
        """A surrogate code point (invalid UTF-8 in Go) becomes ``\\ufffd``."""
        assert encode_go_json("a\udcffb") == b'"a\\ufffdb"'

    def test_quote_go_string_returns_text(self) -> None:
        """The string quoting helper returns the literal as text."""
        assert quote_go_string("<") == '"\\u003c"'


class TestNumbers:
    @pytest.mark.parametrize(
        ("number", "expected"),
        [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (-2.5e-8, "-2.5e-8"),
            (123.0, "123"),
            (0.1, "0.1"),
            (12345678.9, "12345678.9"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (0.0, "0"),
        ],
    )
    def test_float_formatting_matches_go(self, number: float, expected: str) -> None:
        """Floats use the shortest digits with Go's ES6-style exponent cut-offs."""
        assert format_go_float(number) == expected

    @pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
    def test_non_finite_floats_are_rejected(self, number: float) -> None:
        """NaN and infinities are unsupported values, as in Go."""
        with pytest.raises(ValueError, match="unsupported value"):
            encode_go_json(number)

    def test_integers_are_decimal(self) -> None:
        """Integers, even beyond 64 bits, are written as plain decimals."""
        assert encode_go_json([0, -7, 2**64]) == b"[0,-7,18446744073709551616]"

    def test_booleans_are_not_integers(self) -> None:
        """Booleans encode as ``true``/``false``."""
        assert encode_go_json([True, False, None]) == b"[true,false,null]"

    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_float_output_parses_back_to_the_same_float(self, number: float) -> None:
        """Every formatted float is a JSON number that reads back exactly."""
        assert float(json.loads(format_go_float(number))) == number


class TestObjects:
    def test_dict_keeps_insertion_order(self) -> None:
        """A plain dict (a Go struct) keeps its key order."""
        assert encode_go_json({"b": 1, "a": 2}) == b'{"b":1,"a":2}'

    def test_go_map_sorts_keys(self) -> None:
        """A GoMap is written with sorted keys, like a Go map."""
        assert encode_go_json(GoMap(b=1, a=2, C=3)) == b'{"C":3,"a":2,"b":1}'

    def test_go_map_sorts_only_itself(self) -> None:
        """Dicts nested in a GoMap keep their own order."""
        assert encode_go_json(GoMap(z={"y": 1, "x": 2}, a=0)) == b'{"a":0,"z":{"y":1,"x":2}}'

    def test_sort_keys_sorts_every_mapping(self) -> None:
        """With sort_keys every mapping is treated as a Go map."""
        assert encode_go_json({"b": {"d": 1, "c": 2}, "a": 1}, sort_keys=True) == b'{"a":1,"b":{"c":2,"d":1}}'

    def test_map_keys_sort_by_utf8_bytes(self) -> None:
        """Map keys are ordered by their UTF-8 bytes."""
        assert encode_go_json(GoMap({"é": 1, "z": 2, "\U0001f600": 3})) == '{"z":2,"é":1,"😀":3}'.encode()

    def test_integer_keys_become_strings(self) -> None:
        """Integer map keys are written as strings, as Go does for map[int]T."""
        assert encode_go_json(GoMap({10: "a", 9: "b"})) == b'{"10":"a","9":"b"}'

    def test_unsupported_key_type_is_rejected(self) -> None:
        """Keys other than strings and integers are refused."""
        with pytest.raises(TypeError, match="map key"):
            encode_go_json({(1, 2): 1})

    def test_keys_are_escaped_like_strings(self) -> None:
        """Object keys get the same escaping as string values."""
        assert encode_go_json({"<k>": 1}) == b'{"\\u003ck\\u003e":1}'

    def test_tuples_are_arrays(self) -> None:
        """Tuples encode as arrays."""
        assert encode_go_json(("a", 1)) == b'["a",1]'

    def test_empty_containers(self) -> None:
        """Empty dicts and lists encode as ``{}`` and ``[]``."""
        assert encode_go_json({"a": {}, "b": []}) == b'{"a":{},"b":[]}'

    def test_unsupported_type_is_rejected(self) -> None:
        """Values with no JSON form raise TypeError."""
        with pytest.raises(TypeError, match="unsupported type"):
            encode_go_json({"a": {1, 2}})


class TestBytesAndTimes:
    def test_bytes_are_standard_base64(self) -> None:
        """Bytes encode as padded standard base64 (Go's []byte)."""
        assert encode_go_json(b"\x00\xff\xfe") == b'"AP/+"'

    def test_datetime_is_rfc3339_nano(self) -> None:
        """An aware datetime encodes as Go's time.Time does."""
        moment = datetime(2024, 1, 2, 3, 4, 5, 123450, tzinfo=UTC)
        assert encode_go_json(moment) == b'"2024-01-02T03:04:05.12345Z"'

    def test_equal_instants_in_two_zones_keep_their_own_offsets(self) -> None:
        """One instant written in UTC and then in UTC+1 prints each zone's clock and offset."""
        utc = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        plus_one = utc.astimezone(timezone(timedelta(hours=1)))
        assert (format_rfc3339_nano(utc), format_rfc3339_nano(plus_one)) == (
            "2024-01-02T03:04:05Z",
            "2024-01-02T04:04:05+01:00",
        )

    def test_whole_seconds_have_no_fraction(self) -> None:
        """Trailing zeros of the fraction are trimmed, and so is an empty fraction."""
        assert format_rfc3339_nano(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"

    def test_zero_time(self) -> None:
        """Go's zero time.Time formats with a four-digit year."""
        assert format_rfc3339_nano(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"

    def test_non_utc_offset_is_kept(self) -> None:
        """A non-zero offset is written as ``±hh:mm``."""
        zone = timezone(-timedelta(hours=5, minutes=30))
        assert format_rfc3339_nano(datetime(2024, 1, 2, 3, 4, 5, 1000, tzinfo=zone)) == "2024-01-02T03:04:05.001-05:30"

    def test_zero_offset_other_than_utc_is_z(self) -> None:
        """Any zero offset is written as ``Z``."""
        assert format_rfc3339_nano(datetime(2024, 1, 2, tzinfo=timezone(timedelta(0), "GMT"))).endswith("T00:00:00Z")

    def test_naive_datetime_is_rejected(self) -> None:
        """A naive datetime has no RFC 3339 form."""
        with pytest.raises(ValueError, match="naive"):
            format_rfc3339_nano(datetime(2024, 1, 2))


class TestRawJSON:
    def test_whitespace_outside_strings_is_dropped(self) -> None:
        """Raw JSON is compacted, keeping whitespace inside strings."""
        assert encode_go_json(RawJSON(b' { "a b" : [ 1 ,\n 2 ] } ')) == b'{"a b":[1,2]}'

    def test_html_characters_inside_strings_are_escaped(self) -> None:
        """Raw JSON strings get HTML escaping, as Go applies to marshaler output."""
        assert encode_go_json(RawJSON('{"a":"<&>\u2028"}')) == b'{"a":"\\u003c\\u0026\\u003e\\u2028"}'

    def test_number_spelling_is_kept(self) -> None:
        """Numbers and escapes in raw JSON are kept as written."""
        assert compact_raw_json(b'[1.0, 1E3, "\\u00e9"]') == b'[1.0,1E3,"\\u00e9"]'

    def test_escaped_quote_does_not_end_the_string(self) -> None:
        """Whitespace after an escaped quote inside a string is kept."""
        assert compact_raw_json(b'["a\\"  b"]') == b'["a\\"  b"]'

    def test_invalid_raw_json_is_rejected(self) -> None:
        """Raw JSON that does not parse is refused."""
        with pytest.raises(ValueError, match="invalid raw JSON"):
            encode_go_json(RawJSON(b"{"))

    def test_nan_in_raw_json_is_rejected(self) -> None:
        """Python's non-standard NaN literal is not JSON."""
        with pytest.raises(ValueError, match="invalid raw JSON"):
            compact_raw_json(b"[NaN]")

    def test_raw_json_equality(self) -> None:
        """Raw messages compare by their bytes."""
        assert RawJSON("{}") == RawJSON(b"{}")


class TestProperties:
    @given(JSON_VALUES)
    def test_output_round_trips_through_json_loads(self, value: Any) -> None:
        """The output is valid JSON that reads back as the input."""
        assert _equivalent(json.loads(encode_go_json(value)), value)

    @given(JSON_VALUES)
    def test_output_never_contains_raw_html_characters(self, value: Any) -> None:
        """No raw ``<``, ``>`` or ``&`` ever appears in the output."""
        assert not {ord("<"), ord(">"), ord("&")} & set(encode_go_json(value))

    @given(JSON_VALUES)
    def test_sorted_output_round_trips_too(self, value: Any) -> None:
        """With sort_keys the output still reads back as the input."""
        assert _equivalent(json.loads(encode_go_json(value, sort_keys=True)), value)

    @given(JSON_VALUES)
    def test_raw_json_of_the_output_is_unchanged(self, value: Any) -> None:
        """Embedding Go's own output as raw JSON changes nothing (compaction is idempotent)."""
        encoded = encode_go_json(value)
        assert encode_go_json(RawJSON(encoded)) == encoded


class Colour(enum.StrEnum):
    """A str enum, as message enums are handed to the encoder."""

    RED = "red<"


class Level(enum.IntEnum):
    """An int enum."""

    HIGH = 3


FAST_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.characters(codec=None))
    | st.sampled_from([Colour.RED, Level.HIGH, "<&>\u2028\u2029\x7f\x00", "\ud800"])
    | st.binary(max_size=8)
    | st.datetimes(timezones=st.just(UTC) | st.just(timezone(timedelta(hours=-5, minutes=-30))))
    | st.sampled_from([RawJSON(b' { "a" : [1, "<x>"] } '), RawJSON(b"null"), RawJSON('"\u2028"')])
    | st.floats(allow_nan=False, allow_infinity=False)
)
FAST_VALUES = st.recursive(
    FAST_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4).map(GoMap)
    ),
    max_leaves=20,
)


class TestFastPath:
    @given(FAST_VALUES)
    def test_fast_encoder_agrees_with_the_pure_one(self, value: Any) -> None:
        """encode_go_json gives the pure-Python reference encoder's bytes for any value."""
        assert encode_go_json(value) == encode_go_json_pure(value)

    @given(FAST_VALUES)
    def test_fast_encoder_agrees_with_sorted_keys(self, value: Any) -> None:
        """With sort_keys too, both encoders give the same bytes."""
        assert encode_go_json(value, sort_keys=True) == encode_go_json_pure(value, sort_keys=True)

    def test_naive_datetime_is_still_refused(self) -> None:
        """A naive datetime fails the same way whichever encoder runs."""
        with pytest.raises(ValueError, match="naive"):
            encode_go_json({"at": datetime(2024, 1, 1)})

    def test_unknown_type_is_still_refused(self) -> None:
        """A value of an unsupported type raises TypeError, not orjson's own conversion."""
        with pytest.raises(TypeError, match="unsupported type"):
            encode_go_json({"id": enum.Enum("Plain", "A").A})

    def test_huge_integer_is_encoded_exactly(self) -> None:
        """An integer beyond 64 bits is written in full."""
        assert encode_go_json([2**80]) == b"[1208925819614629174706176]"


STRING_VALUES = st.text(alphabet=st.characters(codec=None)) | st.sampled_from(["<&>\u2028", "\ud800", ""])
STRING_FIELDS = st.dictionaries(
    st.text(max_size=8),
    STRING_VALUES | st.dictionaries(st.text(max_size=8), st.lists(STRING_VALUES, max_size=3), max_size=3),
    max_size=4,
)


class TestStringKeys:
    @given(STRING_FIELDS, FAST_VALUES)
    def test_skipping_string_fields_gives_the_pure_encoders_bytes(self, fields: dict[str, Any], part: Any) -> None:
        """With string fields left out of the fast-path check the bytes are still the reference encoder's."""
        whole = {**fields, "part": part}
        assert encode_go_json(whole, string_keys=set(fields) - {"part"}) == encode_go_json_pure(whole)

    def test_float_outside_the_string_fields_takes_the_pure_encoder(self) -> None:
        """A float in a field not named as a string field is written the Go way."""
        assert encode_go_json({"name": "a", "request": {"n": 1e21}}, string_keys={"name"}) == (
            b'{"name":"a","request":{"n":1e+21}}'
        )
