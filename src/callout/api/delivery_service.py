"""DeliveryService (callout.v1): the delivery log — list, inspect, redeliver, and test a target.

REST bindings live under ``/v1/deliveries`` and ``/v1/targets/{targetId}/test``.

See docs/behaviour.md, API surface.
"""

from __future__ import annotations

import base64
from typing import Any

from callout.api.messages.common import decode_pagination, encode_pagination
from callout.api.protojson import Fields, format_duration, format_timestamp, invalid
from callout.api.rpc import Rpc, RpcCall
from callout.domain.auth import Permission
from callout.domain.deliveries import Attempt, Delivery, DeliveryQuery, DeliveryState
from callout.services import deliveries as service
from callout.services.probe import test_target

DELIVERY_SERVICE = "callout.v1.DeliveryService"
STATE_PREFIX = "DELIVERY_STATE_"


def _state_name(state: DeliveryState) -> str:
    return STATE_PREFIX + state.name


def _states(request: Fields) -> tuple[DeliveryState, ...]:
    names = request.strings("states", max_length=64)
    by_name = {_state_name(state): state for state in DeliveryState}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise invalid("states", f"unknown state {unknown[0]!r}")
    return tuple(by_name[name] for name in names)


def decode_query(request: Fields) -> DeliveryQuery:
    """Read a ListDeliveriesRequest."""
    return DeliveryQuery(
        pagination=decode_pagination(request),
        target_id=request.string("targetId", max_length=200) or None,
        execution_id=request.string("executionId", max_length=1100) or None,
        states=_states(request),
        created_after=request.timestamp("createdAfter"),
        created_before=request.timestamp("createdBefore"),
    )


def encode_delivery(delivery: Delivery) -> dict[str, Any]:
    """Write a Delivery message."""
    body: dict[str, Any] = {
        "id": delivery.id,
        "webhookId": delivery.webhook_id,
        "targetId": delivery.target_id,
        "executionId": delivery.execution_id,
        "state": _state_name(delivery.state),
        "attempts": delivery.attempts,
        "nextAttemptDate": format_timestamp(delivery.next_attempt_at),
        "creationDate": format_timestamp(delivery.created_at),
        "changeDate": format_timestamp(delivery.updated_at),
    }
    if delivery.event_id is not None:
        body["eventId"] = str(delivery.event_id)
    if delivery.last_status is not None:
        body["lastStatus"] = delivery.last_status
    if delivery.last_error:
        body["lastError"] = delivery.last_error
    return body


def encode_attempt(attempt: Attempt) -> dict[str, Any]:
    """Write an Attempt message."""
    body: dict[str, Any] = {
        "number": attempt.number,
        "startDate": format_timestamp(attempt.started_at),
        "latency": format_duration(attempt.latency),
    }
    for key, value in (("status", attempt.status), ("error", attempt.error), ("responseHead", attempt.response_head)):
        if value:
            body[key] = value
    return body


def _required_id(request: Fields, name: str) -> str:
    value = (request.string(name, max_length=200) or "").strip()
    if not value:
        raise invalid(name, "is required")
    return value


async def _list(call: RpcCall, *, with_total: bool = True) -> dict[str, Any]:
    query = decode_query(call.request)
    page = await service.list_deliveries(call.context, call.principal, query, with_total=with_total)
    body: dict[str, Any] = {"pagination": encode_pagination(page.total, page.applied_limit)}
    if page.items:
        body["deliveries"] = [encode_delivery(delivery) for delivery in page.items]
    return body


async def _get(call: RpcCall) -> dict[str, Any]:
    delivery, attempts = await service.get_delivery(call.context, call.principal, _required_id(call.request, "id"))
    return {
        "delivery": encode_delivery(delivery),
        "payload": base64.b64encode(delivery.payload).decode(),
        "attempts": [encode_attempt(attempt) for attempt in attempts],
    }


async def _redeliver(call: RpcCall) -> dict[str, Any]:
    when = await service.redeliver(call.context, call.principal, _required_id(call.request, "id"))
    return {"redeliverDate": format_timestamp(when)}


async def _redeliver_failed(call: RpcCall) -> dict[str, Any]:
    since = call.request.timestamp("since")
    if since is None:
        raise invalid("since", "is required")
    return {"count": await service.redeliver_failed(call.context, call.principal, since)}


async def _test_target(call: RpcCall) -> dict[str, Any]:
    result = await test_target(call.context, call.principal, _required_id(call.request, "targetId"))
    body: dict[str, Any] = {"latency": format_duration(result.latency)}
    if result.status is not None:
        body["status"] = result.status
    if result.error:
        body["error"] = result.error
    if result.response_head:
        body["responseHead"] = result.response_head
    return body


async def _list_without_total(call: RpcCall) -> dict[str, Any]:
    return await _list(call, with_total=False)


def uncounted_list_rpc() -> Rpc:
    """ListDeliveries for the console's pages: the same method, permission and executions, but its
    ``totalResult`` only tells whether more follow the page (the offset plus the rows found up to one
    past the page), so a page costs no count of every match. Never served over the API."""
    return Rpc(DELIVERY_SERVICE, "ListDeliveries", Permission.EXECUTION_READ, _list_without_total)


def delivery_rpcs() -> list[Rpc]:
    """The DeliveryService RPCs."""
    return [
        Rpc(DELIVERY_SERVICE, "ListDeliveries", Permission.EXECUTION_READ, _list),
        Rpc(DELIVERY_SERVICE, "GetDelivery", Permission.EXECUTION_READ, _get),
        Rpc(DELIVERY_SERVICE, "RedeliverDelivery", Permission.EXECUTION_WRITE, _redeliver),
        Rpc(DELIVERY_SERVICE, "RedeliverFailed", Permission.EXECUTION_WRITE, _redeliver_failed),
        Rpc(DELIVERY_SERVICE, "TestTarget", Permission.TARGET_WRITE, _test_target),
    ]
