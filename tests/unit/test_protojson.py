"""Protojson reading and writing: durations, timestamps, uint64, enums, oneofs and the Fields view."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.api.protojson import (
    Fields,
    enum_name,
    format_duration,
    format_timestamp,
    format_uint64,
    parse_duration,
    parse_timestamp,
    with_protojson_names,
)
from callout.domain.targets import PayloadType
from callout.errors import InvalidArgument

DURATION_FORM = re.compile(r"-?[0-9]+(\.[0-9]{1,9})?s")
RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3}|\.[0-9]{6})?Z")
TEN_TO_NINE_SECONDS = timedelta(seconds=10**9)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["10s", "1.5s", "-0.000001s", "2024-05-06T07:08:09Z", "PAYLOAD_TYPE_JWT", "18446744073709551616"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELD_KEYS = st.sampled_from(["field", "otherField", "other_field", "nested", "x"]) | st.text(max_size=8)
JSON_OBJECTS = st.dictionaries(FIELD_KEYS, JSON_VALUES, max_size=5)

ACCESSORS: dict[str, Callable[[Fields], Any]] = {
    "raw": lambda f: f.raw("field"),
    "has": lambda f: f.has("otherField"),
    "string": lambda f: f.string("field", max_length=8),
    "required_string": lambda f: f.required_string("field"),
    "boolean": lambda f: f.boolean("field"),
    "uint": lambda f: f.uint("field"),
    "uint32": lambda f: f.uint("otherField", bits=32),
    "enum": lambda f: f.enum("field", PayloadType, "PAYLOAD_TYPE_"),
    "duration": lambda f: f.duration("field"),
    "timestamp": lambda f: f.timestamp("otherField"),
    "message": lambda f: f.message("field"),
    "messages": lambda f: list(f.messages("field")),
    "strings": lambda f: f.strings("otherField", max_length=8),
    "oneof": lambda f: f.oneof("field", "otherField"),
    "optional_oneof": lambda f: f.oneof("field", "otherField", required=False),
}


def _rejects(call: Callable[[], object]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return caught.value


class TestParseDuration:
    def test_whole_seconds_parse(self) -> None:
        """A whole number of seconds such as "10s" parses."""
        assert parse_duration("10s") == timedelta(seconds=10)

    def test_fractional_seconds_parse(self) -> None:
        """A fraction such as "1.5s" parses to the exact sub-second value."""
        assert parse_duration("1.5s") == timedelta(seconds=1, milliseconds=500)

    def test_nanoseconds_round_up_to_microseconds(self) -> None:
        """Nine fractional digits parse, a remainder below a microsecond rounding away from zero."""
        assert parse_duration("1.000000001s") == timedelta(seconds=1, microseconds=1)

    def test_microseconds_are_kept(self) -> None:
        """Six fractional digits parse exactly."""
        assert parse_duration("0.000001s") == timedelta(microseconds=1)

    def test_negative_durations_parse(self) -> None:
        """A leading minus sign makes the duration negative."""
        assert parse_duration("-2.5s") == -timedelta(seconds=2, milliseconds=500)

    def test_zero_parses(self) -> None:
        """The text "0s" parses to an empty duration."""
        assert parse_duration("0s") == timedelta(0)

    def test_protobuf_maximum_is_accepted(self) -> None:
        """The largest protobuf Duration (315576000000 s) is accepted."""
        assert parse_duration("315576000000s") == timedelta(seconds=315_576_000_000)

    @pytest.mark.parametrize(
        "text",
        [
            "10",
            "s",
            "1.5",
            "1e3s",
            " 10s",
            "10s ",
            "+10s",
            "1.s",
            ".5s",
            "1.0000000001s",
            "10S",
            "10 s",
            "1,5s",
            "--1s",
            "",
        ],
    )
    def test_malformed_text_is_rejected(self, text: str) -> None:
        """Text outside ^-?\\d+(\\.\\d{1,9})?s$ is rejected."""
        assert parse_duration(text) is None

    @pytest.mark.parametrize("text", ["315576000001s", "315576000000.5s", "99999999999999999999999999s"])
    def test_huge_values_are_rejected(self, text: str) -> None:
        """Durations beyond protobuf's limit of 315576000000 s are rejected."""
        assert parse_duration(text) is None

    def test_huge_negative_values_are_rejected(self) -> None:
        """Negative durations beyond protobuf's limit are rejected too."""
        assert parse_duration("-315576000001s") is None

    def test_trailing_newline_is_rejected(self) -> None:
        """A trailing newline makes the text no duration."""
        assert parse_duration("10s\n") is None

    def test_non_ascii_digits_are_rejected(self) -> None:
        """Digits outside 0-9 (here Arabic-Indic) make the text no duration."""
        assert parse_duration("\u0661\u0660s") is None


class TestFormatDuration:
    def test_whole_seconds_have_no_fraction(self) -> None:
        """Whole seconds are written without a fraction."""
        assert format_duration(timedelta(seconds=10)) == "10s"

    def test_milliseconds_use_three_digits(self) -> None:
        """A millisecond-precision value is written with three fractional digits."""
        assert format_duration(timedelta(seconds=1, milliseconds=500)) == "1.500s"

    def test_microseconds_use_six_digits(self) -> None:
        """A microsecond-precision value is written with six fractional digits."""
        assert format_duration(timedelta(microseconds=1)) == "0.000001s"

    def test_zero_is_zero_seconds(self) -> None:
        """An empty duration is written as "0s"."""
        assert format_duration(timedelta(0)) == "0s"

    def test_negative_durations_carry_a_minus_sign(self) -> None:
        """A negative duration is written with a leading minus sign on the magnitude."""
        assert format_duration(-timedelta(seconds=1, milliseconds=500)) == "-1.500s"

    @given(st.timedeltas(min_value=-TEN_TO_NINE_SECONDS, max_value=TEN_TO_NINE_SECONDS))
    def test_output_matches_the_spec_regex(self, duration: timedelta) -> None:
        """Every formatted duration matches the duration form of docs/behaviour.md with ASCII digits."""
        assert DURATION_FORM.fullmatch(format_duration(duration))

    @given(st.timedeltas(min_value=-TEN_TO_NINE_SECONDS, max_value=TEN_TO_NINE_SECONDS))
    def test_format_then_parse_round_trips(self, duration: timedelta) -> None:
        """Parsing a formatted duration gives back the same microsecond-precision value."""
        assert parse_duration(format_duration(duration)) == duration


class TestParseTimestamp:
    def test_z_suffix_is_utc(self) -> None:
        """A "Z" timestamp parses to the same instant in UTC."""
        assert parse_timestamp("2024-05-06T07:08:09Z") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

    def test_zero_offset_is_utc(self) -> None:
        """A "+00:00" offset is accepted like "Z"."""
        assert parse_timestamp("2024-05-06T07:08:09+00:00") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

    def test_positive_offset_is_converted(self) -> None:
        """A positive offset is subtracted to give UTC wall time."""
        parsed = parse_timestamp("2024-05-06T07:08:09+02:00")
        assert parsed is not None
        assert (parsed.hour, parsed.utcoffset()) == (5, timedelta(0))

    def test_negative_offset_is_converted(self) -> None:
        """A negative offset is added to give UTC wall time, crossing midnight if needed."""
        assert parse_timestamp("2024-05-06T22:00:00-05:30") == datetime(2024, 5, 7, 3, 30, tzinfo=UTC)

    def test_result_is_in_utc(self) -> None:
        """The parsed value carries the UTC zone."""
        parsed = parse_timestamp("2024-05-06T07:08:09+09:00")
        assert parsed is not None
        assert parsed.tzinfo is UTC

    def test_milliseconds_are_kept(self) -> None:
        """Three fractional digits become the matching microseconds."""
        parsed = parse_timestamp("2024-05-06T07:08:09.5Z")
        assert parsed is not None
        assert parsed.microsecond == 500_000

    def test_nanoseconds_are_truncated(self) -> None:
        """Nine fractional digits are truncated (not rounded) to microseconds."""
        parsed = parse_timestamp("2024-05-06T07:08:09.123456789Z")
        assert parsed is not None
        assert parsed.microsecond == 123_456

    def test_naive_timestamp_is_rejected(self) -> None:
        """A timestamp without an offset is rejected."""
        assert parse_timestamp("2024-05-06T07:08:09") is None

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "yesterday",
            "2024-05-06",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-05-06T25:00:00Z",
            "2024-05-06T07:08:09.Z",
            "2024-05-06T07:08:09.1234567890Z",
            "2024-05-06T07:08:09+0200",
            "2024-05-06T07:08:09 Z",
            " 2024-05-06T07:08:09Z",
            "2024-05-06T07:08:09Zjunk",
            "0000-01-01T00:00:00Z",
            "2024-05-06T07:08:09+24:00",
        ],
    )
    def test_garbage_is_rejected(self, text: str) -> None:
        """Text that is not an RFC 3339 timestamp with an offset is rejected."""
        assert parse_timestamp(text) is None

    @pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"])
    def test_out_of_range_instant_is_rejected(self, text: str) -> None:
        """A timestamp whose UTC instant falls outside years 1..9999 is rejected, not an exception."""
        assert parse_timestamp(text) is None


class TestFormatTimestamp:
    def test_whole_seconds_have_no_fraction(self) -> None:
        """A timestamp on a whole second is written without a fraction."""
        assert format_timestamp(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)) == "2024-05-06T07:08:09Z"

    def test_milliseconds_use_three_digits(self) -> None:
        """A millisecond-precision timestamp is written with three fractional digits."""
        moment = datetime(2024, 5, 6, 7, 8, 9, 500_000, tzinfo=UTC)
        assert format_timestamp(moment) == "2024-05-06T07:08:09.500Z"

    def test_microseconds_use_six_digits(self) -> None:
        """A microsecond-precision timestamp is written with six fractional digits."""
        moment = datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=UTC)
        assert format_timestamp(moment) == "2024-05-06T07:08:09.000001Z"

    def test_other_offsets_are_written_in_utc(self) -> None:
        """An aware timestamp in another zone is written as the same instant with "Z"."""
        moment = datetime(2024, 5, 6, 1, 0, 0, tzinfo=timezone(timedelta(hours=-3)))
        assert format_timestamp(moment) == "2024-05-06T04:00:00Z"

    @pytest.mark.parametrize("year", [1, 999])
    def test_early_years_are_zero_padded(self, year: int) -> None:
        """Years below 1000 are written with four digits, as RFC 3339 requires."""
        assert format_timestamp(datetime(year, 1, 2, tzinfo=UTC)) == f"{year:04d}-01-02T00:00:00Z"

    @given(
        st.datetimes(
            min_value=datetime(1000, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))),
        )
    )
    def test_output_is_rfc3339_utc(self, moment: datetime) -> None:
        """Every formatted timestamp is RFC 3339 in UTC with 0, 3 or 6 fractional digits."""
        assert RFC3339_UTC.fullmatch(format_timestamp(moment))

    @given(
        st.datetimes(
            min_value=datetime(1000, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))),
        )
    )
    def test_format_then_parse_round_trips(self, moment: datetime) -> None:
        """Parsing a formatted aware timestamp gives back the same instant."""
        assert parse_timestamp(format_timestamp(moment)) == moment


class TestScalars:
    def test_uint64_is_written_as_a_string(self) -> None:
        """uint64 values are written as decimal strings."""
        assert format_uint64(18446744073709551615) == "18446744073709551615"

    def test_enum_is_written_by_its_full_name(self) -> None:
        """An enum member is written as prefix plus member name."""
        assert enum_name(PayloadType.JWT, "PAYLOAD_TYPE_") == "PAYLOAD_TYPE_JWT"


class TestFieldsKeys:
    def test_camel_case_key_is_read(self) -> None:
        """A lowerCamelCase key is read under its camelCase name."""
        assert Fields({"interruptOnError": True}).boolean("interruptOnError") is True

    def test_snake_case_key_is_read(self) -> None:
        """A snake_case key is read under the camelCase name."""
        assert Fields({"interrupt_on_error": True}).boolean("interruptOnError") is True

    def test_null_counts_as_unset(self) -> None:
        """A null value reads as absent."""
        assert Fields({"name": None}).string("name") is None

    def test_null_is_not_present(self) -> None:
        """has() is false for a null value."""
        assert Fields({"name": None}).has("name") is False

    def test_absent_key_is_not_present(self) -> None:
        """has() is false for a missing key."""
        assert Fields({}).has("name") is False

    def test_unknown_keys_are_ignored(self) -> None:
        """Keys the reader never asks for do not affect reading."""
        assert Fields({"name": "a", "surprise": [1, {"x": None}]}).string("name") == "a"

    @pytest.mark.parametrize("data", [[], "x", 1, None, True])
    def test_non_object_is_rejected(self, data: object) -> None:
        """Wrapping anything but a JSON object is an InvalidArgument."""
        _rejects(lambda: Fields(data))


class TestFieldsStrings:
    def test_wrong_type_names_the_field(self) -> None:
        """A number where a string belongs is an InvalidArgument naming the field."""
        error = _rejects(lambda: Fields({"name": 5}).string("name"))
        assert error.detail.startswith("name:")

    def test_nested_path_is_named(self) -> None:
        """An error inside a nested message names the full dotted path."""
        nested = Fields({"restCall": {"interruptOnError": "yes"}}).message("restCall")
        assert nested is not None
        error = _rejects(lambda: nested.boolean("interruptOnError"))
        assert error.detail.startswith("restCall.interruptOnError:")

    def test_overlong_string_is_rejected(self) -> None:
        """A string longer than max_length is an InvalidArgument."""
        _rejects(lambda: Fields({"name": "abcd"}).string("name", max_length=3))

    def test_string_at_max_length_is_accepted(self) -> None:
        """A string exactly max_length long is accepted."""
        assert Fields({"name": "abc"}).string("name", max_length=3) == "abc"

    @pytest.mark.parametrize("data", [{}, {"id": ""}, {"id": None}])
    def test_required_string_must_be_non_empty(self, data: dict[str, Any]) -> None:
        """A required string that is absent, null or empty is an InvalidArgument."""
        _rejects(lambda: Fields(data).required_string("id"))

    def test_repeated_strings_are_read(self) -> None:
        """A list of strings is read in order."""
        assert Fields({"ids": ["a", "b"]}).strings("ids") == ["a", "b"]

    def test_absent_repeated_field_is_empty(self) -> None:
        """An absent repeated field reads as an empty list."""
        assert Fields({}).strings("ids") == []

    def test_repeated_string_item_of_wrong_type_names_its_index(self) -> None:
        """A non-string list item is an InvalidArgument naming its index."""
        error = _rejects(lambda: Fields({"ids": ["a", 2]}).strings("ids"))
        assert error.detail.startswith("ids[1]:")

    def test_overlong_repeated_string_item_is_rejected(self) -> None:
        """A list item longer than max_length is an InvalidArgument."""
        _rejects(lambda: Fields({"ids": ["abcd"]}).strings("ids", max_length=3))

    def test_non_list_repeated_field_is_rejected(self) -> None:
        """A scalar where a list belongs is an InvalidArgument."""
        _rejects(lambda: Fields({"ids": "a"}).strings("ids"))


class TestFieldsBooleans:
    def test_bool_is_read(self) -> None:
        """A JSON boolean is read as is."""
        assert Fields({"asc": False}).boolean("asc") is False

    @pytest.mark.parametrize("value", ["true", 1, 0, [], {}])
    def test_non_bool_is_rejected(self, value: object) -> None:
        """Strings and numbers are not booleans."""
        _rejects(lambda: Fields({"asc": value}).boolean("asc"))


class TestFieldsUnsignedIntegers:
    def test_number_is_read(self) -> None:
        """A JSON number is read as a uint64."""
        assert Fields({"limit": 5}).uint("limit") == 5

    def test_decimal_string_is_read(self) -> None:
        """A decimal string is read as a uint64."""
        assert Fields({"limit": "5"}).uint("limit") == 5

    def test_uint64_maximum_is_read_from_a_string(self) -> None:
        """The largest uint64 is accepted as a string."""
        assert Fields({"offset": "18446744073709551615"}).uint("offset") == (1 << 64) - 1

    @pytest.mark.parametrize("value", [1 << 64, "18446744073709551616", -1, "-1"])
    def test_out_of_range_is_rejected(self, value: object) -> None:
        """Negative values and values of 2**64 or more are rejected."""
        _rejects(lambda: Fields({"offset": value}).uint("offset"))

    def test_bit_width_is_enforced(self) -> None:
        """A 32-bit field rejects 2**32."""
        _rejects(lambda: Fields({"limit": 1 << 32}).uint("limit", bits=32))

    @pytest.mark.parametrize("value", [True, False])
    def test_bools_are_not_integers(self, value: bool) -> None:
        """A JSON boolean is not accepted as an integer."""
        _rejects(lambda: Fields({"limit": value}).uint("limit"))

    @pytest.mark.parametrize("value", [1.5, "1.5", "1e3", " 5", "five", "", [5], {"v": 5}])
    def test_non_integers_are_rejected(self, value: object) -> None:
        """Fractions, exponents, padded or non-numeric text and containers are rejected."""
        _rejects(lambda: Fields({"limit": value}).uint("limit"))

    def test_error_names_the_field(self) -> None:
        """The error names the field's path."""
        pagination = Fields({"pagination": {"limit": "x"}}).message("pagination")
        assert pagination is not None
        assert _rejects(lambda: pagination.uint("limit")).detail.startswith("pagination.limit:")

    def test_non_ascii_digit_string_is_rejected(self) -> None:
        """A string of non-ASCII digits is not a uint64."""
        _rejects(lambda: Fields({"limit": "\u0661\u0660"}).uint("limit"))


class TestFieldsEnums:
    def test_full_name_is_read(self) -> None:
        """An enum given by its full name is read."""
        assert Fields({"payloadType": "PAYLOAD_TYPE_JWT"}).enum("payloadType", PayloadType, "PAYLOAD_TYPE_") is (
            PayloadType.JWT
        )

    def test_number_is_read(self) -> None:
        """An enum given by its number is read."""
        assert Fields({"payloadType": 3}).enum("payloadType", PayloadType, "PAYLOAD_TYPE_") is PayloadType.JWE

    @pytest.mark.parametrize("value", ["PAYLOAD_TYPE_XML", "JWT", "payload_type_jwt", "PAYLOAD_TYPE_", 99, -1, True])
    def test_unknown_value_is_rejected(self, value: object) -> None:
        """Unknown names, names without the prefix, unknown numbers and bools are rejected."""
        error = _rejects(lambda: Fields({"payloadType": value}).enum("payloadType", PayloadType, "PAYLOAD_TYPE_"))
        assert error.detail.startswith("payloadType:")


class TestFieldsOpenEnums:
    @given(st.integers(min_value=-(2**31), max_value=2**31 - 1).filter(lambda number: number not in range(4)))
    def test_unknown_int32_number_reads_as_the_fallback(self, number: int) -> None:
        """With a fallback, any int32 number protojson accepts but the enum lacks reads as the fallback."""
        fields = Fields({"payloadType": number})
        read = fields.enum("payloadType", PayloadType, "PAYLOAD_TYPE_", unknown_numbers_as=PayloadType.UNSPECIFIED)
        assert read is PayloadType.UNSPECIFIED

    @pytest.mark.parametrize("value", [2**31, -(2**31) - 1, "99", "PAYLOAD_TYPE_XML", True, 1.5])
    def test_what_protojson_rejects_stays_rejected(self, value: object) -> None:
        """Numbers beyond int32, numeric strings, unknown names, bools and fractions are rejected despite a fallback."""
        fields = Fields({"payloadType": value})
        error = _rejects(
            lambda: fields.enum("payloadType", PayloadType, "PAYLOAD_TYPE_", unknown_numbers_as=PayloadType.JSON)
        )
        assert error.detail.startswith("payloadType:")

    def test_known_number_ignores_the_fallback(self) -> None:
        """A known number reads as its member even with a fallback."""
        fields = Fields({"payloadType": 2})
        assert fields.enum("payloadType", PayloadType, "PAYLOAD_TYPE_", unknown_numbers_as=PayloadType.JSON) is (
            PayloadType.JWT
        )


class TestFieldsDurationsAndTimestamps:
    def test_duration_is_read(self) -> None:
        """A duration string is read as a timedelta."""
        assert Fields({"timeout": "1.5s"}).duration("timeout") == timedelta(seconds=1.5)

    @pytest.mark.parametrize("value", [10, "10", "ten seconds", True])
    def test_bad_duration_names_the_field(self, value: object) -> None:
        """A value that is not a duration string is an InvalidArgument naming the field."""
        assert _rejects(lambda: Fields({"timeout": value}).duration("timeout")).detail.startswith("timeout:")

    def test_timestamp_is_read(self) -> None:
        """A timestamp string is read as an aware UTC datetime."""
        assert Fields({"expirationDate": "2030-01-01T00:00:00+01:00"}).timestamp("expirationDate") == datetime(
            2029, 12, 31, 23, tzinfo=UTC
        )

    @pytest.mark.parametrize("value", ["2030-01-01T00:00:00", 1893456000, "soon"])
    def test_bad_timestamp_names_the_field(self, value: object) -> None:
        """A naive, numeric or garbage timestamp is an InvalidArgument naming the field."""
        error = _rejects(lambda: Fields({"expirationDate": value}).timestamp("expirationDate"))
        assert error.detail.startswith("expirationDate:")

    def test_out_of_range_timestamp_is_invalid_argument(self) -> None:
        """A timestamp whose UTC instant is before year 1 is an InvalidArgument."""
        _rejects(lambda: Fields({"expirationDate": "0001-01-01T00:00:00+01:00"}).timestamp("expirationDate"))


class TestFieldsMessages:
    def test_nested_message_is_read(self) -> None:
        """A nested object is returned as a Fields view."""
        nested = Fields({"pagination": {"limit": 3}}).message("pagination")
        assert nested is not None
        assert nested.uint("limit") == 3

    def test_absent_message_is_none(self) -> None:
        """An absent nested message reads as None."""
        assert Fields({}).message("pagination") is None

    def test_non_object_message_is_rejected(self) -> None:
        """A scalar where a message belongs is an InvalidArgument."""
        _rejects(lambda: Fields({"pagination": 3}).message("pagination"))

    def test_repeated_message_item_names_its_index(self) -> None:
        """A non-object item of a repeated message is an InvalidArgument naming its index."""
        error = _rejects(lambda: list(Fields({"filters": [{}, 1]}).messages("filters")))
        assert error.detail.startswith("filters[1]:")


class TestFieldsOneof:
    def test_single_member_is_returned(self) -> None:
        """The one member that is set is named."""
        assert Fields({"restCall": {}}).oneof("restWebhook", "restCall") == "restCall"

    def test_snake_case_member_is_found(self) -> None:
        """A member given with a snake_case key is named by its camelCase name."""
        assert Fields({"rest_call": {}}).oneof("restWebhook", "restCall") == "restCall"

    def test_two_members_are_rejected(self) -> None:
        """Setting two members is an InvalidArgument."""
        _rejects(lambda: Fields({"restWebhook": {}, "restCall": {}}).oneof("restWebhook", "restCall"))

    def test_missing_required_member_is_rejected(self) -> None:
        """Setting no member of a required oneof is an InvalidArgument."""
        _rejects(lambda: Fields({}).oneof("restWebhook", "restCall"))

    def test_missing_optional_member_is_none(self) -> None:
        """Setting no member of an optional oneof reads as None."""
        assert Fields({}).oneof("restWebhook", "restCall", required=False) is None

    def test_null_member_counts_as_unset(self) -> None:
        """A null member does not count as set."""
        assert Fields({"restWebhook": None, "restCall": {}}).oneof("restWebhook", "restCall") == "restCall"


class TestFieldsRobustness:
    @settings(max_examples=60)
    @given(JSON_VALUES)
    def test_constructor_raises_only_invalid_argument(self, data: object) -> None:
        """Wrapping any JSON value either succeeds or raises InvalidArgument."""
        with contextlib.suppress(InvalidArgument):
            Fields(data)

    @pytest.mark.parametrize("accessor", sorted(ACCESSORS))
    @settings(max_examples=25)
    @given(data=JSON_OBJECTS, value=JSON_VALUES, other=JSON_VALUES)
    def test_accessor_raises_only_invalid_argument(
        self, accessor: str, data: dict[str, Any], value: object, other: object
    ) -> None:
        """Every accessor, given any JSON object, returns or raises InvalidArgument."""
        fields = Fields({**data, "field": value, "other_field": other})
        with contextlib.suppress(InvalidArgument):
            ACCESSORS[accessor](fields)


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["a", "a_b", "aB", "c_d_e", "cDE", "x"])
    return st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4)


def _renamed_recursively(value: Any) -> Any:
    """The reference definition of protojson renaming (recursive, for small test values only)."""
    if isinstance(value, list):
        return [_renamed_recursively(item) for item in value]
    if not isinstance(value, dict):
        return value
    renamed = {}
    for key, item in value.items():
        name = re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), key)
        if item is None or (name != key and value.get(name) is not None):
            continue
        renamed[name] = _renamed_recursively(item)
    return renamed


class TestProtojsonNames:
    def test_snake_case_keys_become_lower_camel_case(self) -> None:
        """Keys are renamed at every depth, inside lists too."""
        sent = {"rest_call": {"interrupt_on_error": True}, "targets": [{"target_id": "t"}], "payload_type": "X"}
        assert with_protojson_names(sent) == {
            "restCall": {"interruptOnError": True},
            "targets": [{"targetId": "t"}],
            "payloadType": "X",
        }

    def test_null_fields_are_left_out(self) -> None:
        """A null field is unset in protojson, so it is not written."""
        assert with_protojson_names({"name": None, "id": "1", "inner": {"a": None}}) == {"id": "1", "inner": {}}

    def test_camel_case_spelling_wins_over_snake_case(self) -> None:
        """With both spellings present the lowerCamelCase value is kept, as Fields reads it."""
        assert with_protojson_names({"payload_type": "A", "payloadType": "B"}) == {"payloadType": "B"}

    def test_values_and_order_are_kept(self) -> None:
        """String values (even with underscores) and key order stay as sent."""
        renamed = with_protojson_names({"name": "my_target", "end_point": "https://x/a_b", "id": "1"})
        assert list(renamed.items()) == [("name", "my_target"), ("endPoint", "https://x/a_b"), ("id", "1")]

    def test_lists_keep_nulls_and_scalars(self) -> None:
        """Inside lists only objects are renamed; nulls and scalars stay where they were."""
        renamed = with_protojson_names({"items": [None, 1, "a_b", {"a_b": None, "c_d": [{"e_f": 2}]}, []]})
        assert renamed == {"items": [None, 1, "a_b", {"cD": [{"eF": 2}]}, []]}

    def test_any_depth_is_renamed_without_recursion(self) -> None:
        """A message nested far beyond the interpreter's recursion limit is renamed (the walk is iterative)."""
        depth = 50_000
        message: dict[str, Any] = {"leaf_key": 1}
        for _ in range(depth):
            message = {"inner_list": [{"next_item": message}]}
        renamed = with_protojson_names(message)
        for _ in range(depth):
            renamed = renamed["innerList"][0]["nextItem"]
        assert renamed == {"leafKey": 1}

    @given(st.recursive(st.none() | st.integers() | st.text(max_size=3), _json_containers, max_leaves=20))
    def test_renaming_agrees_with_a_recursive_reference(self, value: Any) -> None:
        """The iterative walk gives what the plain recursive definition gives, for any JSON value."""
        message = {"root_value": value}
        assert with_protojson_names(message) == _renamed_recursively(message)

    @given(st.dictionaries(st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True), st.text() | st.integers()))
    def test_lower_camel_case_messages_are_unchanged(self, message: dict[str, Any]) -> None:
        """A message already in protojson's spelling without nulls comes back equal."""
        assert with_protojson_names(message) == message
