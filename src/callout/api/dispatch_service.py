"""DispatchService (callout.v1): host applications run executions around their own methods.

A host application authenticates with its own token. The ids a target sees (user, organization,
project) default to the token's and may be overridden per call with those of the end user.

See docs/behaviour.md, API surface.
"""

from __future__ import annotations

from typing import Any

from callout.api.protojson import Fields, format_timestamp, invalid
from callout.api.rpc import Rpc, RpcCall
from callout.domain.auth import Permission, Principal
from callout.domain.events import Event
from callout.services import dispatch, interception
from callout.services import executions as execution_service
from callout.services import push as push_service
from callout.services.push import PushedEvent

DISPATCH_SERVICE = "callout.v1.DispatchService"


def _method(request: Fields) -> str:
    return dispatch.checked_method(request.required_string("method", max_length=1000))


def _object(request: Fields, name: str) -> dict[str, Any]:
    value = request.raw(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(name, "must be a JSON object")
    return value


def _headers(request: Fields) -> dict[str, list[str]]:
    return dispatch.forwarded(_object(request, "headers"))


def _caller(call: RpcCall) -> Principal:
    request = call.request
    return dispatch.caller(
        call.principal, request.string("userId", max_length=200), request.string("orgId", max_length=200)
    )


async def _run_request(call: RpcCall) -> dict[str, Any]:
    request = await interception.run_request_execution(
        call.context,
        _caller(call),
        _method(call.request),
        _object(call.request, "request"),
        _headers(call.request),
        call.request.string("projectId", max_length=200) or "",
    )
    return {"request": request}


async def _run_response(call: RpcCall) -> dict[str, Any]:
    response = await interception.run_response_execution(
        call.context,
        _caller(call),
        _method(call.request),
        _object(call.request, "request"),
        _object(call.request, "response"),
        _headers(call.request),
        call.request.string("projectId", max_length=200) or "",
    )
    return {"response": response}


async def _run_function(call: RpcCall) -> dict[str, Any]:
    """The merged answers (``result``) and, for ZITADEL's functions, them applied (``applied``, docs/functions.md)."""
    name = call.request.required_string("name", max_length=200)
    explicit_claims = _object(call.request, "claims") if call.request.raw("claims") is not None else None
    return await dispatch.function_answer(
        call.context, _caller(call), name, _object(call.request, "context"), explicit_claims
    )


async def _register_catalog(call: RpcCall) -> dict[str, Any]:
    request = call.request
    await execution_service.register_catalog(
        call.context,
        call.principal,
        methods=request.strings("methods", max_length=1000),
        functions=request.strings("functions"),
        events=request.strings("events"),
    )
    return {}


async def _push_events(call: RpcCall) -> dict[str, Any]:
    pushed = [_pushed_event(item) for item in call.request.messages("events")]
    stored = await push_service.push_events(call.context, call.principal, pushed)
    return {"events": [encode_event(event) for event in stored]}


def _pushed_event(item: Fields) -> PushedEvent:
    return PushedEvent(
        aggregate_type=item.string("aggregateType", max_length=100) or "",
        aggregate_id=item.string("aggregateId", max_length=1000) or "",
        event_type=item.string("eventType", max_length=200) or "",
        payload=_object(item, "payload"),
        creator=item.string("creator", max_length=64) or "",
        idempotency_key=item.string("idempotencyKey", max_length=200),
    )


def encode_event(event: Event) -> dict[str, Any]:
    """An event as PushEvents answers it: its ids, sequence and creation date."""
    return {
        "id": str(event.id),
        "aggregateType": event.aggregate_type,
        "aggregateId": event.aggregate_id,
        "sequence": str(event.sequence),
        "eventType": event.event_type,
        "creationDate": format_timestamp(event.created_at),
    }


async def _get_routing(call: RpcCall) -> dict[str, Any]:
    """The request/response executions concerning ``services``; with ``version`` and ``wait``, a long poll."""
    wait = call.request.duration("wait")
    return await dispatch.routing_answer(
        call.context,
        call.principal,
        call.request.strings("services", max_length=1000),
        call.request.uint("version"),
        0.0 if wait is None else wait.total_seconds(),
    )


def dispatch_rpcs() -> list[Rpc]:
    """The DispatchService RPCs."""
    return [
        Rpc(DISPATCH_SERVICE, "RunRequestExecution", Permission.DISPATCH, _run_request, intercept=False),
        Rpc(DISPATCH_SERVICE, "RunResponseExecution", Permission.DISPATCH, _run_response, intercept=False),
        Rpc(DISPATCH_SERVICE, "RunFunction", Permission.DISPATCH, _run_function, intercept=False),
        Rpc(DISPATCH_SERVICE, "RegisterCatalog", Permission.DISPATCH, _register_catalog, intercept=False),
        Rpc(DISPATCH_SERVICE, "PushEvents", Permission.DISPATCH, _push_events, intercept=False),
        Rpc(DISPATCH_SERVICE, "GetRouting", Permission.DISPATCH, _get_routing, intercept=False),
    ]
