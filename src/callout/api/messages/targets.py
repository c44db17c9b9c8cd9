"""Target messages of ActionService v2 and v2beta (v2beta has no payloadType, shorter endpoints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callout.api.messages.common import decode_pagination, encode_pagination
from callout.api.protojson import Fields, enum_name, format_duration, format_timestamp, invalid
from callout.domain.queries import Page, TargetQuery, TargetSortField, TextFilter, TextFilterMethod
from callout.domain.targets import PayloadType, Target, TargetChanges, TargetSpec, TargetType
from callout.errors import InvalidArgument

_TYPE_KEYS = {"restWebhook": TargetType.WEBHOOK, "restCall": TargetType.CALL, "restAsync": TargetType.ASYNC}
_KEY_OF_TYPE = {value: key for key, value in _TYPE_KEYS.items()}
_DEFAULT_SORT = TargetSortField.UNSPECIFIED


@dataclass(frozen=True)
class ApiVersion:
    """The differences between the v2 and v2beta target messages."""

    name: str
    has_payload_type: bool
    max_endpoint_length: int


V2 = ApiVersion("v2", has_payload_type=True, max_endpoint_length=2048)
V2BETA = ApiVersion("v2beta", has_payload_type=False, max_endpoint_length=1000)


def _target_type(request: Fields, required: bool) -> tuple[TargetType, bool] | None:
    key = request.oneof(*_TYPE_KEYS, required=required)
    if key is None:
        return None
    part = request.message(key)
    assert part is not None  # oneof() saw it present
    interrupt = bool(part.boolean("interruptOnError")) if key != "restAsync" else False
    return _TYPE_KEYS[key], interrupt


def _payload_type(request: Fields, version: ApiVersion) -> PayloadType | None:
    if not version.has_payload_type:
        return None
    # An unknown number is PAYLOAD_TYPE_UNSPECIFIED, as payloadTypeToDomain's default in ZITADEL's
    # internal/api/grpc/action/v2/target.go (docs/differences.md).
    return request.enum("payloadType", PayloadType, "PAYLOAD_TYPE_", unknown_numbers_as=PayloadType.UNSPECIFIED)


def decode_create(request: Fields, version: ApiVersion) -> TargetSpec:
    """Read a CreateTargetRequest."""
    target_type = _target_type(request, required=True)
    assert target_type is not None
    return TargetSpec(
        name=request.string("name", max_length=1000) or "",
        target_type=target_type[0],
        interrupt_on_error=target_type[1],
        timeout=request.duration("timeout"),
        endpoint=request.string("endpoint", max_length=version.max_endpoint_length) or "",
        payload_type=_payload_type(request, version) or PayloadType.UNSPECIFIED,
    )


def decode_update(request: Fields, version: ApiVersion) -> tuple[str, TargetChanges]:
    """Read an UpdateTargetRequest: the id and the optional changes."""
    target_id = decode_id(request)
    target_type = _target_type(request, required=False)
    payload_type = _payload_type(request, version)
    changes = TargetChanges(
        name=request.string("name", max_length=1000),
        target_type=None if target_type is None else target_type[0],
        interrupt_on_error=None if target_type is None else target_type[1],
        timeout=request.duration("timeout"),
        endpoint=request.string("endpoint", max_length=version.max_endpoint_length),
        payload_type=None if payload_type is PayloadType.UNSPECIFIED else payload_type,
        expiration_signing_key=request.duration("expirationSigningKey"),
    )
    return target_id, changes


def decode_id(request: Fields) -> str:
    """Read a required ``id``, trimmed as ZITADEL's handlers do; blank is missing."""
    target_id = (request.string("id", max_length=200) or "").strip()
    if not target_id:
        raise invalid("id", "is required")
    return target_id


def decode_list(request: Fields) -> TargetQuery:
    """Read a ListTargetsRequest."""
    name_filters: list[TextFilter] = []
    id_filters: list[tuple[str, ...]] = []
    for item in request.messages("filters"):
        kind = item.oneof("targetNameFilter", "inTargetIdsFilter", required=False)
        if kind is None:
            raise InvalidArgument("List.Query.Invalid", "a filter must set one of its members")
        part = item.message(kind)
        assert part is not None
        if kind == "targetNameFilter":
            name_filters.append(_name_filter(part))
        else:
            id_filters.append(tuple(part.strings("targetIds")))
    # Unknown numbers sort by creation date, as targetFieldNameToSortingColumn's default in ZITADEL.
    sort = request.enum("sortingColumn", TargetSortField, "TARGET_FIELD_NAME_", unknown_numbers_as=_DEFAULT_SORT)
    return TargetQuery(
        pagination=decode_pagination(request),
        sort=sort or TargetSortField.UNSPECIFIED,
        name_filters=tuple(name_filters),
        id_filters=tuple(id_filters),
    )


def _name_filter(part: Fields) -> TextFilter:
    method = part.enum("method", TextFilterMethod, "TEXT_FILTER_METHOD_")
    value = part.string("targetName", max_length=200)
    if value is None:
        raise invalid("filters.targetNameFilter.targetName", "is required")
    return TextFilter(value, method or TextFilterMethod.EQUALS)


def encode_target(target: Target, version: ApiVersion) -> dict[str, Any]:
    """Write a Target message; the signing key is never part of it (docs/differences.md)."""
    kind: dict[str, Any] = {"interruptOnError": True} if target.interrupt_on_error else {}
    body: dict[str, Any] = {
        "id": target.id,
        "creationDate": format_timestamp(target.creation_date),
        "changeDate": format_timestamp(target.change_date),
        "name": target.name,
        _KEY_OF_TYPE[target.target_type]: kind,
        "timeout": format_duration(target.timeout),
        "endpoint": target.endpoint,
    }
    if version.has_payload_type and target.payload_type is not PayloadType.UNSPECIFIED:
        body["payloadType"] = enum_name(target.payload_type, "PAYLOAD_TYPE_")
    return body


def encode_created(target: Target, signing_key: str) -> dict[str, Any]:
    """Write a CreateTargetResponse."""
    return {"id": target.id, "creationDate": format_timestamp(target.creation_date), "signingKey": signing_key}


def encode_updated(change_date: datetime, signing_key: str | None) -> dict[str, Any]:
    """Write an UpdateTargetResponse; the key only after a rotation."""
    body: dict[str, Any] = {"changeDate": format_timestamp(change_date)}
    if signing_key is not None:
        body["signingKey"] = signing_key
    return body


def encode_deleted(deletion_date: datetime | None) -> dict[str, Any]:
    """Write a DeleteTargetResponse; no date when the target never existed."""
    return {} if deletion_date is None else {"deletionDate": format_timestamp(deletion_date)}


def encode_list(page: Page[Target], version: ApiVersion) -> dict[str, Any]:
    """Write a ListTargetsResponse, omitting an empty list as protojson does."""
    body: dict[str, Any] = {"pagination": encode_pagination(page.total, page.applied_limit)}
    if page.items:
        body["targets"] = [encode_target(target, version) for target in page.items]
    return body
