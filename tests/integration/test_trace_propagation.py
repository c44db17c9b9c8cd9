"""Tracing off: a caller's W3C trace context reaches targets unchanged, now and later (docs/tracing.md)."""

from __future__ import annotations

import httpx

from callout.domain.deliveries import DeliveryQuery
from callout.services import executions as execution_service
from callout.storage.deliveries import list_deliveries
from callout.tracing import TRACING
from callout.verify import verify_signature
from tests.delivery_receivers import Receiver
from tests.integration.engine_support import ACTION, Engine, answer

GET_TARGET = f"{ACTION}/GetTarget"
PUSH = "/callout.v1.DispatchService/PushEvents"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "vendor=opaque,other=1"


def _traced(**extra: str) -> dict[str, str]:
    return {"traceparent": TRACEPARENT, **extra}


async def _push(engine: Engine, headers: dict[str, str]) -> httpx.Response:
    event = {"aggregateType": "order", "aggregateId": "o-1", "eventType": "order.paid", "payload": {"total": 3}}
    return await engine.client.post(PUSH, json={"events": [event]}, headers=headers)


async def _event_target(engine: Engine) -> tuple[Receiver, str]:
    await execution_service.register_catalog(
        engine.context, engine.principal, methods=[], functions=[], events=["order.paid"]
    )
    receiver = await engine.receivers.start(answer(200, {}))
    body = {"name": "orders", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url()}
    created = await engine.rpc("CreateTarget", body)
    await engine.bind({"event": {"event": "order.paid"}}, [created.json()["id"]])
    return receiver, created.json()["signingKey"]


class TestSynchronousCalls:
    async def test_request_target_receives_the_callers_traceparent_unchanged(self, dev_engine: Engine) -> None:
        """With tracing off, a request target gets the caller's traceparent and tracestate as they came."""
        assert TRACING.otel is None
        receiver = await dev_engine.receivers.start(answer(200, {}))
        await dev_engine.bind({"request": {"method": GET_TARGET}}, [await dev_engine.target(receiver)])
        await dev_engine.client.post(GET_TARGET, json={"id": "x"}, headers=_traced(tracestate=TRACESTATE))
        hit = receiver.hits[0]
        assert (hit.header_values("traceparent"), hit.header_values("tracestate")) == (
            [TRACEPARENT.encode()],
            [TRACESTATE.encode()],
        )

    async def test_call_without_traceparent_sends_none(self, dev_engine: Engine) -> None:
        """A caller that sent no trace context makes target calls without a traceparent header."""
        receiver = await dev_engine.receivers.start(answer(200, {}))
        await dev_engine.bind({"request": {"method": GET_TARGET}}, [await dev_engine.target(receiver)])
        await dev_engine.rpc("GetTarget", {"id": "x"})
        assert receiver.hits[0].header_values("traceparent") == []

    async def test_malformed_traceparent_is_not_forwarded(self, dev_engine: Engine) -> None:
        """A traceparent with an all-zero trace id is dropped, with its tracestate."""
        receiver = await dev_engine.receivers.start(answer(200, {}))
        await dev_engine.bind({"request": {"method": GET_TARGET}}, [await dev_engine.target(receiver)])
        zero = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        await dev_engine.client.post(GET_TARGET, json={"id": "x"}, headers={"traceparent": zero, "tracestate": "a=b"})
        hit = receiver.hits[0]
        assert (hit.header_values("traceparent"), hit.header_values("tracestate")) == ([], [])


class TestDeliveries:
    async def test_pushed_events_store_the_callers_trace_context(self, dev_engine: Engine) -> None:
        """The deliveries of events pushed with a traceparent keep it (and the tracestate) in the database."""
        await _event_target(dev_engine)
        await _push(dev_engine, _traced(tracestate=TRACESTATE))
        async with dev_engine.context.database.read() as conn:
            page = await list_deliveries(conn, dev_engine.principal.instance_id, DeliveryQuery())
        assert [(d.trace.traceparent, d.trace.tracestate) for d in page.items if d.trace] == [(TRACEPARENT, TRACESTATE)]

    async def test_delivery_sends_the_stored_traceparent_with_an_unchanged_signed_body(
        self, dev_engine: Engine
    ) -> None:
        """The worker sends the stored traceparent; the signature still verifies over the body."""
        receiver, signing_key = await _event_target(dev_engine)
        await _push(dev_engine, _traced())
        await dev_engine.drain()
        hit = receiver.hits[0]
        verify_signature(hit.body, hit.header_values("ZITADEL-Signature")[0].decode(), signing_key)
        assert hit.header_values("traceparent") == [TRACEPARENT.encode()]

    async def test_rest_async_target_is_sent_the_callers_traceparent(self, dev_engine: Engine) -> None:
        """A rest_async call queued by a request execution carries the caller's traceparent when delivered."""
        receiver = await dev_engine.receivers.start(answer(200, {}))
        await dev_engine.bind({"request": {"method": GET_TARGET}}, [await dev_engine.target(receiver, "restAsync")])
        await dev_engine.client.post(GET_TARGET, json={"id": "x"}, headers=_traced())
        await dev_engine.drain()
        assert receiver.hits[0].header_values("traceparent") == [TRACEPARENT.encode()]
