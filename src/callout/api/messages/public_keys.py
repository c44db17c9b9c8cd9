"""Public key messages of ActionService v2 (AddPublicKey, Activate/Deactivate/Remove, ListPublicKeys)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from callout.api.messages.common import decode_pagination, encode_pagination
from callout.api.protojson import Fields, format_timestamp, invalid
from callout.domain.keys import (
    MAX_PEM_BYTES,
    PublicKey,
    PublicKeyQuery,
    PublicKeySortField,
    TimestampFilter,
    TimestampFilterMethod,
)
from callout.domain.queries import Page
from callout.errors import InvalidArgument


def decode_id(request: Fields, name: str) -> str:
    """A required id, trimmed as ZITADEL's handlers do."""
    value = (request.string(name, max_length=200) or "").strip()
    if not value:
        raise invalid(name, "is required")
    return value


def decode_add(request: Fields) -> tuple[str, bytes, datetime | None]:
    """Read an AddPublicKeyRequest: target id, PEM bytes (base64 on the wire), optional expiry."""
    target_id = decode_id(request, "targetId")
    encoded = request.string("publicKey", max_length=4 * MAX_PEM_BYTES) or ""
    # protojson accepts standard or URL-safe base64, padded or not.
    normalised = encoded.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        pem = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument("Errors.Target.InvalidPublicKey", "publicKey must be base64 (protojson bytes)") from error
    if not pem:
        raise invalid("publicKey", "is required")
    return target_id, pem, request.timestamp("expirationDate")


def decode_list(request: Fields) -> tuple[str, PublicKeyQuery]:
    """Read a ListPublicKeysRequest."""
    key_ids: list[tuple[str, ...]] = []
    active: list[bool] = []
    expiration: list[TimestampFilter] = []
    for item in request.messages("filters"):
        kind = item.oneof("keyIdsFilter", "activeFilter", "expirationDateFilter", required=False)
        if kind is None:
            raise InvalidArgument("List.Query.Invalid", "a filter must set one of its members")
        if kind == "activeFilter":
            active.append(bool(item.boolean("activeFilter")))
            continue
        part = item.message(kind)
        assert part is not None
        if kind == "keyIdsFilter":
            key_ids.append(tuple(part.strings("ids")))
        else:
            expiration.append(_timestamp_filter(part))
    # ZITADEL's ListPublicKeys does not read the column at all; an unknown number sorts by creation date.
    sort = request.enum(
        "sortingColumn", PublicKeySortField, "PUBLIC_KEY_FIELD_NAME_", unknown_numbers_as=PublicKeySortField.UNSPECIFIED
    )
    query = PublicKeyQuery(
        decode_pagination(request),
        sort or PublicKeySortField.UNSPECIFIED,
        tuple(key_ids),
        tuple(active),
        tuple(expiration),
    )
    return decode_id(request, "targetId"), query


def _timestamp_filter(part: Fields) -> TimestampFilter:
    timestamp = part.timestamp("timestamp")
    if timestamp is None:
        raise invalid("expirationDateFilter.timestamp", "is required")
    method = part.enum("method", TimestampFilterMethod, "TIMESTAMP_FILTER_METHOD_")
    return TimestampFilter(timestamp, method or TimestampFilterMethod.EQUALS)


def encode_public_key(key: PublicKey) -> dict[str, Any]:
    """Write a PublicKey message (bytes as base64, defaults omitted)."""
    body: dict[str, Any] = {"keyId": key.key_id}
    if key.active:
        body["active"] = True
    body["publicKey"] = base64.b64encode(key.public_key_pem).decode()
    body["fingerprint"] = key.fingerprint
    if key.expiration_date is not None:
        body["expirationDate"] = format_timestamp(key.expiration_date)
    body["creationDate"] = format_timestamp(key.creation_date)
    body["changeDate"] = format_timestamp(key.change_date)
    return body


def encode_list(page: Page[PublicKey]) -> dict[str, Any]:
    """Write a ListPublicKeysResponse."""
    body: dict[str, Any] = {"pagination": encode_pagination(page.total, page.applied_limit)}
    if page.items:
        body["publicKeys"] = [encode_public_key(key) for key in page.items]
    return body
