"""PushEvents: host applications push declared events, stored once per idempotency key, delivered durably."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callout.domain.auth import Role
from callout.domain.deliveries import DeliveryQuery
from callout.services import executions as execution_service
from callout.services.context import ServiceContext
from callout.storage.deliveries import list_deliveries
from callout.storage.events import list_events
from tests.conftest import MakeClient, MakePrincipal

PUSH = "/callout.v1.DispatchService/PushEvents"


def _event(event_type: str = "order.paid", **extra: Any) -> dict[str, Any]:
    return {"aggregateType": "order", "aggregateId": "o-1", "eventType": event_type, "payload": {"total": 3}, **extra}


@pytest.fixture
async def host(
    context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
) -> tuple[httpx.AsyncClient, str]:
    """An owner's client whose instance declared the event type order.paid; returns (client, instance id)."""
    principal, token = await make_principal(Role.IAM_OWNER)
    await execution_service.register_catalog(context, principal, methods=[], functions=[], events=["order.paid"])
    return make_client(token), principal.instance_id


class TestPushEvents:
    async def test_declared_events_are_stored_with_sequences(
        self, host: tuple[httpx.AsyncClient, str], context: ServiceContext
    ) -> None:
        """Two events of one aggregate are stored with sequences 1 and 2."""
        client, _ = host
        response = await client.post(PUSH, json={"events": [_event(), _event()]})
        assert [event["sequence"] for event in response.json()["events"]] == ["1", "2"]

    async def test_idempotency_key_stores_once(
        self, host: tuple[httpx.AsyncClient, str], context: ServiceContext
    ) -> None:
        """A repeat with the same idempotency key returns the first event and stores nothing new."""
        client, instance_id = host
        first = await client.post(PUSH, json={"events": [_event(idempotencyKey="k1")]})
        again = await client.post(PUSH, json={"events": [_event(idempotencyKey="k1")]})
        async with context.database.read() as conn:
            stored = await list_events(conn, instance_id, "o-1")
        assert (first.json()["events"][0]["id"], len(stored)) == (again.json()["events"][0]["id"], 1)

    @pytest.mark.parametrize(
        "bad",
        [
            _event("order.unknown"),
            _event("target.added"),
            {**_event(), "aggregateId": ""},
            {**_event(), "payload": [1]},
        ],
    )
    async def test_bad_event_stores_nothing(
        self, host: tuple[httpx.AsyncClient, str], context: ServiceContext, bad: dict[str, Any]
    ) -> None:
        """An undeclared or callout-owned type, an empty aggregate id or a non-object payload rejects the push."""
        client, instance_id = host
        response = await client.post(PUSH, json={"events": [_event(), bad]})
        async with context.database.read() as conn:
            stored = await list_events(conn, instance_id, "o-1")
        assert (response.status_code, stored) == (400, [])

    async def test_pushed_event_is_queued_for_its_execution(
        self, host: tuple[httpx.AsyncClient, str], context: ServiceContext
    ) -> None:
        """An event execution on the pushed type gets one delivery per push."""
        client, instance_id = host
        target = await client.post(
            "/zitadel.action.v2.ActionService/CreateTarget",
            json={"name": "orders", "restWebhook": {}, "timeout": "5s", "endpoint": "https://hooks.example.com/o"},
        )
        bind = {"condition": {"event": {"event": "order.paid"}}, "targets": [target.json()["id"]]}
        await client.post("/zitadel.action.v2.ActionService/SetExecution", json=bind)
        await client.post(PUSH, json={"events": [_event(), _event()]})
        async with context.database.read() as conn:
            page = await list_deliveries(conn, instance_id, DeliveryQuery())
        assert [d.execution_id for d in page.items] == ["event/order.paid", "event/order.paid"]


class TestPushBatches:
    async def test_repeated_key_within_one_push_is_stored_once(
        self, host: tuple[httpx.AsyncClient, str], context: ServiceContext
    ) -> None:
        """Two events with the same key in one push are stored once and both answers name that event."""
        client, instance_id = host
        response = await client.post(PUSH, json={"events": [_event(idempotencyKey="k"), _event(idempotencyKey="k")]})
        async with context.database.read() as conn:
            stored = await list_events(conn, instance_id, "o-1")
        ids = {event["id"] for event in response.json()["events"]}
        assert (len(ids), len(stored)) == (1, 1)

    async def test_a_later_push_continues_each_aggregates_sequence(self, host: tuple[httpx.AsyncClient, str]) -> None:
        """Sequences go on from the stored ones, per exact aggregate (type and id), across pushes."""
        client, _ = host
        first = [_event(aggregateId="a"), _event(aggregateId="b"), _event(aggregateId="b")]
        await client.post(PUSH, json={"events": first})
        second = [_event(aggregateId=aggregate) for aggregate in ["b", "a", "c"]]
        response = await client.post(PUSH, json={"events": second})
        ids = [event["id"] for event in response.json()["events"]]
        assert [event["sequence"] for event in response.json()["events"]] == ["3", "2", "1"]
        assert ids == sorted(ids, key=int)

    async def test_many_aggregates_get_their_own_sequences(self, host: tuple[httpx.AsyncClient, str]) -> None:
        """Events of two aggregates interleaved in one push are numbered per aggregate."""
        client, _ = host
        events = [_event(aggregateId=aggregate) for aggregate in ["a", "b", "a", "b", "a"]]
        response = await client.post(PUSH, json={"events": events})
        assert [event["sequence"] for event in response.json()["events"]] == ["1", "1", "2", "2", "3"]
