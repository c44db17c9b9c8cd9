"""Rendering errors in each transport's shape: Connect (code names) and REST (gRPC numeric codes)."""

from __future__ import annotations

import base64
from typing import Any

from callout.errors import CalloutError, ResourceExhausted


class BodyTooLarge(ResourceExhausted):
    """The request body is over the size limit: ``resource_exhausted`` (HTTP 429) in Connect, 413 in REST."""


def http_status(error: CalloutError) -> int:
    """The HTTP status of an error in Connect's mapping (a code's fixed status)."""
    return error.kind.http_status


def rest_http_status(error: CalloutError) -> int:
    """The HTTP status of an error over REST: as in Connect, but 413 for an oversized body.

    grpc-gateway would answer 429, which generic HTTP clients take as "retry later"; a body that is
    too large will never pass, so REST says so (docs/limits.md).
    """
    return 413 if isinstance(error, BodyTooLarge) else error.kind.http_status


def _proto_string(field_number: int, value: str) -> bytes:
    data = value.encode()
    length = len(data)
    varint = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([field_number << 3 | 2]) + bytes(varint) + data


def _error_detail_proto(error: CalloutError) -> str:
    # zitadel.v1.ErrorDetail{string id = 1; string message = 2;}, unpadded base64 as connect-go sends.
    # proto3 leaves empty strings out of the encoding.
    raw = b"".join(_proto_string(number, text) for number, text in ((1, error.message_id), (2, error.detail)) if text)
    return base64.b64encode(raw).decode().rstrip("=")


def connect_error_body(error: CalloutError) -> dict[str, Any]:
    """The Connect unary error body."""
    return {
        "code": error.kind.connect_code,
        "message": error.message,
        "details": [
            {
                "type": "zitadel.v1.ErrorDetail",
                "value": _error_detail_proto(error),
                "debug": {"id": error.message_id, "message": error.detail},
            }
        ],
    }


def rest_error_body(error: CalloutError) -> dict[str, Any]:
    """The grpc-gateway (google.rpc.Status) error body."""
    return {
        "code": error.kind.grpc_code,
        "message": error.message,
        "details": [
            {"@type": "type.googleapis.com/zitadel.v1.ErrorDetail", "id": error.message_id, "message": error.detail}
        ],
    }
