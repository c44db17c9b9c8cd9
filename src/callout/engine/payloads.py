"""The exact JSON bodies sent to targets, one builder per condition, byte-identical to ZITADEL's.

ZITADEL marshals Go structs with ``encoding/json``; every field but the protojson messages carries
``omitempty``, so empty strings, zero numbers and empty maps are left out, while ``request`` and
``response`` are always present (they are struct values, which ``omitempty`` never drops). Field
order is the struct's declaration order:

- request:  ``fullMethod, instanceID, orgID, projectID, userID, request, headers``
  (``ContextInfoRequest`` in ``internal/api/grpc/server/connect_middleware/execution_interceptor.go``);
- response: the same with ``response`` between ``request`` and ``headers``;
- function: ``function``, then the context (``userinfo, user, user_metadata, org, user_grants,
  application`` for ZITADEL's own functions), then ``response`` — the answers merged so far, which
  ZITADEL re-sends to every later target of the chain (``internal/api/oidc/userinfo.go``);
- event: ``aggregateID, aggregateType, resourceOwner, instanceID, version, sequence, event_type,
  created_at, userID, event_payload`` (``ContextInfoEvent`` in ``internal/repository/execution``).

Protojson messages may be passed as dicts (encoded in their insertion order) or as
:class:`~callout.engine.gojson.RawJSON` (compacted and HTML-escaped like Go's marshaler output).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from callout.engine.gojson import RawJSON, encode_go_json, format_rfc3339_nano

JSONMessage = Mapping[str, Any] | RawJSON
"""A protojson message: an ordered dict, or its already-encoded bytes."""

FORWARDED_HEADERS: tuple[str, ...] = ("Content-Type", "X-Forwarded-For", "X-Forwarded-Host", "Host", "Origin")
"""The only incoming headers passed on to request/response targets, in Go's canonical casing."""

ZITADEL_FUNCTIONS = frozenset({"preuserinfo", "preaccesstoken", "presamlresponse"})
"""Functions whose context is a Go struct: its nil pointers and empty slices are omitted."""

_CANONICAL = {name.lower(): name for name in FORWARDED_HEADERS}
_STRING_FIELDS = frozenset({"fullMethod", "instanceID", "orgID", "projectID", "userID", "headers"})


def request_payload(
    full_method: str,
    instance_id: str,
    org_id: str,
    project_id: str,
    user_id: str,
    request: JSONMessage,
    headers: Mapping[str, Sequence[str]] | None,
) -> bytes:
    """The body for request targets; a ``rest_call`` answers with the bare replacement request."""
    body: dict[str, Any] = dict(_caller_fields(full_method, instance_id, org_id, project_id, user_id))
    body["request"] = request
    return _with_headers(body, headers)


def response_payload(
    full_method: str,
    instance_id: str,
    org_id: str,
    project_id: str,
    user_id: str,
    request: JSONMessage,
    response: JSONMessage,
    headers: Mapping[str, Sequence[str]] | None,
) -> bytes:
    """The body for response targets; a ``rest_call`` answers with the bare replacement response."""
    body: dict[str, Any] = dict(_caller_fields(full_method, instance_id, org_id, project_id, user_id))
    body["request"] = request
    body["response"] = response
    return _with_headers(body, headers)


def function_payload(
    function_name: str,
    context: Mapping[str, Any],
    *,
    response: Mapping[str, Any] | None = None,
) -> bytes:
    """The body for function targets: ``function`` first, the context keys in order, then ``response``.

    ``function_name`` is the bare name (``preuserinfo``) or the execution id (``function/preuserinfo``).
    Context keys whose value is ``None`` are omitted (Go's nil pointers); for ZITADEL's own
    functions empty lists are omitted too (``omitempty`` slices). ``response`` is the merged answer
    of the earlier ``rest_call`` targets of the chain, if any.
    """
    name = function_name.removeprefix("function/")
    body: dict[str, Any] = {"function": f"function/{name}"}
    for key, value in context.items():
        if value is None or (name in ZITADEL_FUNCTIONS and isinstance(value, list | tuple) and not value):
            continue
        body[key] = value
    if response is not None:
        body["response"] = response
    return encode_go_json(body)


def event_payload(
    aggregate_id: str,
    aggregate_type: str,
    resource_owner: str,
    instance_id: str,
    version: str,
    sequence: int,
    event_type: str,
    created_at: datetime,
    user_id: str,
    event_payload: Mapping[str, Any] | RawJSON | None,
) -> bytes:
    """The body for event targets; ``event_payload`` is the event's JSON object, keys in stored order."""
    fields: dict[str, Any] = {
        "aggregateID": aggregate_id,
        "aggregateType": aggregate_type,
        "resourceOwner": resource_owner,
        "instanceID": instance_id,
        "version": version,
        "sequence": sequence,
        "event_type": event_type,
        "created_at": format_rfc3339_nano(created_at),
        "userID": user_id,
    }
    body = {key: value for key, value in fields.items() if value}
    if event_payload is not None and not (isinstance(event_payload, RawJSON) and not event_payload.data):
        body["event_payload"] = event_payload
    return encode_go_json(body)


def filter_forwarded_headers(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Keep only the forwarded headers (matched case-insensitively), canonically cased, keys sorted as Go does.

    Repeated headers keep every value in arrival order.
    """
    kept: dict[str, list[str]] = {}
    for name, value in headers:
        canonical = _CANONICAL.get(name.lower())
        if canonical is not None:
            kept.setdefault(canonical, []).append(value)
    return {name: kept[name] for name in sorted(kept)}


@functools.lru_cache(maxsize=1024)
def _caller_fields(
    full_method: str, instance_id: str, org_id: str, project_id: str, user_id: str
) -> tuple[tuple[str, str], ...]:
    # Cached, as immutable pairs: the same caller calls the same methods, and this runs on every target call.
    fields = {
        "fullMethod": full_method,
        "instanceID": instance_id,
        "orgID": org_id,
        "projectID": project_id,
        "userID": user_id,
    }
    return tuple((key, value) for key, value in fields.items() if value)


def _with_headers(body: dict[str, Any], headers: Mapping[str, Sequence[str]] | None) -> bytes:
    if headers:
        # A Go map, sorted here: a plain dict in key order encodes alike.
        body["headers"] = {name: list(headers[name]) for name in sorted(headers)}
    # Caller fields and headers are strings: only the messages need the encoder's check for floats.
    return encode_go_json(body, string_keys=_STRING_FIELDS)
