"""Error bodies of the Connect and REST transports, including the protobuf-encoded ErrorDetail."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.api.errors import BodyTooLarge, connect_error_body, http_status, rest_error_body, rest_http_status
from callout.errors import (
    AlreadyExists,
    CalloutError,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

ERROR_CODES: list[tuple[type[CalloutError], str, int]] = [
    (InvalidArgument, "invalid_argument", 3),
    (FailedPrecondition, "failed_precondition", 9),
    (Unauthenticated, "unauthenticated", 16),
    (PermissionDenied, "permission_denied", 7),
    (NotFound, "not_found", 5),
    (AlreadyExists, "already_exists", 6),
    (ResourceExhausted, "resource_exhausted", 8),
    (Internal, "internal", 13),
    (Unavailable, "unavailable", 14),
    (DeadlineExceeded, "deadline_exceeded", 4),
]
KIND_IDS = [kind.__name__ for kind, *_ in ERROR_CODES]


def _unpadded_b64decode(text: str) -> bytes:
    assert "=" not in text
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _decode_error_detail(data: bytes) -> dict[int, str]:
    """Decode a protobuf message made only of length-delimited (wire type 2) fields, by hand."""
    fields: dict[int, str] = {}
    position = 0
    while position < len(data):
        tag, position = _read_varint(data, position)
        assert tag & 0x07 == 2, "only length-delimited fields are expected"
        length, position = _read_varint(data, position)
        fields[tag >> 3] = data[position : position + length].decode()
        position += length
    assert position == len(data)
    return fields


def _detail_value(error: CalloutError) -> bytes:
    return _unpadded_b64decode(connect_error_body(error)["details"][0]["value"])


class TestConnectBody:
    @pytest.mark.parametrize(("kind", "connect", "grpc"), ERROR_CODES, ids=KIND_IDS)
    def test_code_is_the_connect_name(self, kind: type[CalloutError], connect: str, grpc: int) -> None:
        """The Connect body's code is the Connect code name of the kind."""
        assert connect_error_body(kind("Errors.X"))["code"] == connect

    def test_message_is_id_and_detail(self) -> None:
        """The Connect body's message is "<id> (<detail>)"."""
        body = connect_error_body(NotFound("Errors.Target.NotFound", "target 1"))
        assert body["message"] == "Errors.Target.NotFound (target 1)"

    def test_detail_type_is_zitadel_error_detail(self) -> None:
        """The one detail is typed zitadel.v1.ErrorDetail."""
        assert connect_error_body(NotFound("Errors.Target.NotFound"))["details"][0]["type"] == "zitadel.v1.ErrorDetail"

    def test_detail_value_is_unpadded_base64(self) -> None:
        """The detail value carries no base64 padding, whatever its length."""
        values = [
            connect_error_body(NotFound("Errors.Target.NotFound", "x" * n))["details"][0]["value"] for n in range(4)
        ]
        assert all("=" not in value for value in values)

    def test_detail_value_decodes_to_id_and_message(self) -> None:
        """The detail value is a protobuf ErrorDetail with field 1 the id and field 2 the detail."""
        decoded = _decode_error_detail(_detail_value(NotFound("Errors.Target.NotFound", "target 1")))
        assert decoded == {1: "Errors.Target.NotFound", 2: "target 1"}

    def test_long_detail_uses_a_two_byte_length(self) -> None:
        """A detail longer than 127 bytes is prefixed by a two-byte varint length."""
        message_id, detail = "Errors.Target.Invalid", "d" * 200
        raw = _detail_value(InvalidArgument(message_id, detail))
        second_field = raw[2 + len(message_id) :]
        assert second_field[:3] == bytes([0x12, 0xC8, 0x01])

    def test_long_detail_decodes(self) -> None:
        """A detail longer than 127 bytes decodes back intact."""
        detail = "é" * 150  # 300 bytes of UTF-8
        assert _decode_error_detail(_detail_value(InvalidArgument("Errors.Target.Invalid", detail)))[2] == detail

    def test_empty_detail_decodes_to_empty_message(self) -> None:
        """Without a detail the ErrorDetail's message is empty or absent."""
        decoded = _decode_error_detail(_detail_value(NotFound("Errors.Target.NotFound")))
        assert decoded.get(2, "") == ""

    def test_debug_repeats_id_and_detail(self) -> None:
        """The detail's debug object carries the id and the detail as JSON."""
        debug = connect_error_body(NotFound("Errors.Target.NotFound", "t"))["details"][0]["debug"]
        assert debug == {"id": "Errors.Target.NotFound", "message": "t"}

    @given(st.text(min_size=1, max_size=300), st.text(max_size=300))
    def test_any_id_and_detail_round_trip_through_the_proto(self, message_id: str, detail: str) -> None:
        """For any id and detail the encoded ErrorDetail decodes back to both."""
        decoded = _decode_error_detail(_detail_value(InvalidArgument(message_id, detail)))
        assert (decoded[1], decoded.get(2, "")) == (message_id, detail)


class TestRestBody:
    @pytest.mark.parametrize(("kind", "connect", "grpc"), ERROR_CODES, ids=KIND_IDS)
    def test_code_is_the_grpc_number(self, kind: type[CalloutError], connect: str, grpc: int) -> None:
        """The REST body's code is the numeric gRPC code of the kind."""
        assert rest_error_body(kind("Errors.X"))["code"] == grpc

    def test_message_is_id_and_detail(self) -> None:
        """The REST body's message is "<id> (<detail>)"."""
        assert rest_error_body(NotFound("Errors.Target.NotFound", "t"))["message"] == "Errors.Target.NotFound (t)"

    def test_message_without_detail_is_the_id(self) -> None:
        """Without a detail the REST body's message is just the id."""
        assert rest_error_body(NotFound("Errors.Target.NotFound"))["message"] == "Errors.Target.NotFound"

    def test_details_is_a_list(self) -> None:
        """The REST body always has a details list."""
        assert isinstance(rest_error_body(Internal("Errors.Internal"))["details"], list)

    def test_detail_names_the_google_any_type(self) -> None:
        """Each REST detail is a google.protobuf.Any of zitadel.v1.ErrorDetail with id and message."""
        detail = rest_error_body(NotFound("Errors.Target.NotFound", "t"))["details"][0]
        assert detail == {
            "@type": "type.googleapis.com/zitadel.v1.ErrorDetail",
            "id": "Errors.Target.NotFound",
            "message": "t",
        }


class TestHttpStatus:
    @pytest.mark.parametrize("kind", [kind for kind, *_ in ERROR_CODES], ids=KIND_IDS)
    def test_rest_status_is_the_kinds_status(self, kind: type[CalloutError]) -> None:
        """Over REST every error but an oversized body keeps its kind's HTTP status."""
        assert rest_http_status(kind("Errors.X")) == kind.kind.http_status

    def test_oversized_body_is_413_over_rest(self) -> None:
        """An oversized body is 413 Payload Too Large over REST, which clients do not retry."""
        assert rest_http_status(BodyTooLarge("Errors.Request.TooLarge")) == 413

    def test_oversized_body_is_429_in_connect(self) -> None:
        """Connect maps resource_exhausted to 429, oversized body or not."""
        assert http_status(BodyTooLarge("Errors.Request.TooLarge")) == 429

    def test_oversized_body_keeps_the_resource_exhausted_code(self) -> None:
        """The body of an oversized-body error says resource_exhausted in both shapes."""
        error = BodyTooLarge("Errors.Request.TooLarge")
        assert (connect_error_body(error)["code"], rest_error_body(error)["code"]) == ("resource_exhausted", 8)
