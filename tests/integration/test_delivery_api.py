"""DeliveryService over Connect and REST: list, inspect, redeliver and test targets, per instance.

The app runs in process on a development-mode context (loopback targets allowed) with a real sender;
targets are ``RecordingReceiver``s on 127.0.0.1, and a real ``DeliveryWorker`` delivers.

See docs/behaviour.md, API surface.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from callout.api.app import create_app
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.retry import RetryPolicy
from callout.domain.targets import TargetSpec, TargetType
from callout.services import executions as execution_service
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.push import PushedEvent, push_events
from callout.services.worker import DeliveryWorker, WorkerSettings
from callout.testing import RecordingReceiver
from tests.api_client import RpcResult
from tests.conftest import MakePrincipal
from tests.integration.target_rpc_support import expect_error, parse_timestamp

SERVICE = "/callout.v1.DeliveryService"
REST = {  # rpc -> (method, path); each {name} is filled from (and popped off) the body
    "ListDeliveries": ("POST", "/v1/deliveries/search"),
    "GetDelivery": ("GET", "/v1/deliveries/{id}"),
    "RedeliverDelivery": ("POST", "/v1/deliveries/{id}/redeliver"),
    "RedeliverFailed": ("POST", "/v1/deliveries/redeliver_failed"),
    "TestTarget": ("POST", "/v1/targets/{targetId}/test"),
}
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
DURATION = re.compile(r"^\d+(\.\d+)?s$")
FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=5))
PAID, SHIPPED = "order.paid", "order.shipped"
SINCE_ALWAYS = "2000-01-01T00:00:00Z"


@dataclass
class DeliveryApi:
    """One authenticated caller of one instance, bound to a transport, with helpers to produce deliveries."""

    client: httpx.AsyncClient
    transport: str
    principal: Principal
    context: ServiceContext

    @property
    def instance_id(self) -> str:
        """The caller's instance."""
        return self.principal.instance_id

    async def call(self, rpc: str, body: dict[str, Any] | None = None) -> RpcResult:
        """Call a DeliveryService RPC over the chosen transport."""
        body = dict(body or {})
        if self.transport == "connect":
            response = await self.client.post(f"{SERVICE}/{rpc}", json=body)
        else:
            method, template = REST[rpc]
            path = PATH_PARAMETER.sub(lambda match: str(body.pop(match.group(1), "")) or "%20", template)
            response = await self.client.request(method, path, json=body if method == "POST" else None)
        return RpcResult(response.status_code, response.json())

    async def list(self, **body: Any) -> list[dict[str, Any]]:
        """ListDeliveries, which must succeed; returns the deliveries."""
        result = await self.call("ListDeliveries", body)
        assert result.ok, result.body
        return list(result.body.get("deliveries", []))

    async def ids(self, **body: Any) -> set[str]:
        """The ids ListDeliveries returns."""
        return {delivery["id"] for delivery in await self.list(**body)}

    async def get(self, delivery_id: str) -> dict[str, Any]:
        """GetDelivery, which must succeed."""
        result = await self.call("GetDelivery", {"id": delivery_id})
        assert result.ok, result.body
        return result.body

    async def add_target(self, receiver: RecordingReceiver) -> tuple[str, str]:
        """A webhook target at the receiver; returns (target id, signing key)."""
        spec = TargetSpec(f"hook-{secrets.token_hex(4)}", TargetType.WEBHOOK, False, timedelta(seconds=2), receiver.url)
        target, signing_key = await target_service.create_target(self.context, self.principal, spec)
        return target.id, signing_key

    async def bind(self, receiver: RecordingReceiver, event_type: str = PAID) -> str:
        """Declare the event type and bind a new target at the receiver to it; returns the target id."""
        target_id, _ = await self.add_target(receiver)
        await execution_service.register_catalog(self.context, self.principal, [], [], [event_type])
        condition = Condition(ConditionType.EVENT, event=event_type)
        await execution_service.set_execution(self.context, self.principal, condition, [target_id])
        return target_id

    async def push(self, event_type: str = PAID, count: int = 1) -> None:
        """Push ``count`` events of a declared type in one transaction."""
        events = [PushedEvent("order", f"o-{index}", event_type, {"total": index}) for index in range(count)]
        await push_events(self.context, self.principal, events)

    async def drain(self) -> None:
        """Run a worker with fast retries until nothing is due."""
        worker = DeliveryWorker(self.context, WorkerSettings(policy=FAST_RETRIES, poll_interval=0.05))
        for _ in range(50):
            if not await worker.run_once():
                await asyncio.sleep(0.02)
                if not await worker.run_once():
                    return

    async def failed(self, receiver: RecordingReceiver, count: int = 1) -> list[str]:
        """Deliveries that failed for good (the receiver answers 400); returns their ids."""
        receiver.respond(status=400, json={"problem": "rejected"})
        await self.bind(receiver)
        await self.push(count=count)
        await self.drain()
        deliveries = await self.list(states=["DELIVERY_STATE_FAILED"])
        assert len(deliveries) == count
        return [delivery["id"] for delivery in deliveries]


MakeApi = Callable[..., Awaitable[DeliveryApi]]
MakeReceiver = Callable[[], RecordingReceiver]


@pytest.fixture
async def dev(context: ServiceContext) -> AsyncIterator[ServiceContext]:
    """The test context in development mode, with a real sender that may call 127.0.0.1."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    yield replace(context, egress=policy, sender=sender)
    await sender.close()


@pytest.fixture
async def make_caller(dev: ServiceContext, make_principal: MakePrincipal, transport: str) -> AsyncIterator[MakeApi]:
    """Factory: a DeliveryApi for a role, in a new instance or a given one, on one in-process app."""
    app = create_app(dev)
    clients: list[httpx.AsyncClient] = []

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> DeliveryApi:
        principal, token = await make_principal(role, instance_id)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://callout.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return DeliveryApi(client, transport, principal, dev)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def make_receiver() -> Iterator[MakeReceiver]:
    """Factory: a recording receiver on 127.0.0.1, stopped at the end of the test."""
    running: list[RecordingReceiver] = []

    def make() -> RecordingReceiver:
        receiver = RecordingReceiver().__enter__()
        running.append(receiver)
        return receiver

    yield make
    for receiver in running:
        receiver.__exit__(None, None, None)


class TestListDeliveries:
    async def test_lists_pending_deliveries_with_their_webhook_ids(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """Two pushed events give two pending deliveries to the bound target, each with webhook-id msg_<id>."""
        api = await make_caller()
        target_id = await api.bind(make_receiver())
        await api.push(count=2)
        deliveries = await api.list()
        assert [(d["targetId"], d["state"], d["webhookId"]) for d in deliveries] == [
            (target_id, "DELIVERY_STATE_PENDING", f"msg_{d['id']}") for d in deliveries
        ]
        assert len(deliveries) == 2

    async def test_target_filter(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """targetId keeps only the deliveries to that target."""
        api = await make_caller()
        paid = await api.bind(make_receiver(), PAID)
        await api.bind(make_receiver(), SHIPPED)
        await api.push(PAID)
        await api.push(SHIPPED)
        assert [d["targetId"] for d in await api.list(targetId=paid)] == [paid]

    async def test_execution_filter(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """executionId keeps only the deliveries of that execution."""
        api = await make_caller()
        await api.bind(make_receiver(), PAID)
        shipped = await api.bind(make_receiver(), SHIPPED)
        await api.push(SHIPPED)
        [delivery] = await api.list(targetId=shipped)
        await api.push(PAID)
        assert await api.ids(executionId=delivery["executionId"]) == {delivery["id"]}

    async def test_state_filter(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """states keeps only deliveries in one of the given states."""
        api = await make_caller()
        failed = await api.failed(make_receiver(), count=2)
        await api.push()
        pending = await api.ids(states=["DELIVERY_STATE_PENDING"])
        assert (await api.ids(states=["DELIVERY_STATE_FAILED"]), len(pending)) == (set(failed), 1)

    async def test_unknown_state_is_invalid(self, make_caller: MakeApi) -> None:
        """An unknown state name is rejected as an invalid argument."""
        api = await make_caller()
        result = await api.call("ListDeliveries", {"states": ["DELIVERY_STATE_LOST"]})
        expect_error(result, api.transport, "invalid_argument")

    async def test_created_after_keeps_later_deliveries(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """createdAfter keeps deliveries created at or after the given time."""
        api = await make_caller()
        await api.bind(make_receiver())
        await api.push()
        await asyncio.sleep(0.01)
        await api.push()
        newest = (await api.list())[0]
        assert await api.ids(createdAfter=newest["creationDate"]) == {newest["id"]}

    async def test_created_before_keeps_earlier_deliveries(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """createdBefore keeps deliveries created before the given time."""
        api = await make_caller()
        await api.bind(make_receiver())
        await api.push()
        await asyncio.sleep(0.01)
        await api.push()
        newest, oldest = await api.list()
        assert await api.ids(createdBefore=newest["creationDate"]) == {oldest["id"]}

    async def test_pagination(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """Pages of two cover all three deliveries once, with the total and the applied limit."""
        api = await make_caller()
        await api.bind(make_receiver())
        await api.push(count=3)
        first = await api.call("ListDeliveries", {"pagination": {"offset": 0, "limit": 2}})
        second = await api.call("ListDeliveries", {"pagination": {"offset": 2, "limit": 2}})
        ids = [d["id"] for page in (first, second) for d in page.body["deliveries"]]
        assert first.body["pagination"] == {"totalResult": "3", "appliedLimit": "2"}
        assert (len(ids), set(ids)) == (3, await api.ids())


class TestGetDelivery:
    async def test_returns_every_attempt(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """Each attempt comes with its number, status, latency, start and response head."""
        api = await make_caller()
        [delivery_id] = await api.failed(make_receiver())
        [attempt] = (await api.get(delivery_id))["attempts"]
        assert (attempt["number"], attempt["status"]) == (1, 400)
        assert DURATION.match(attempt["latency"])
        assert parse_timestamp(attempt["startDate"])
        assert "rejected" in attempt["responseHead"]

    async def test_returns_the_delivery(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """The delivery itself reports its state, attempt count and last status."""
        api = await make_caller()
        [delivery_id] = await api.failed(make_receiver())
        delivery = (await api.get(delivery_id))["delivery"]
        assert (delivery["id"], delivery["state"], delivery["attempts"], delivery["lastStatus"]) == (
            delivery_id,
            "DELIVERY_STATE_FAILED",
            1,
            400,
        )

    async def test_returns_the_payload_as_sent(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """The base64 payload is exactly the body the receiver got."""
        api = await make_caller()
        receiver = make_receiver()
        [delivery_id] = await api.failed(receiver)
        payload = base64.b64decode((await api.get(delivery_id))["payload"])
        assert (payload, json.loads(payload)["event_type"]) == (receiver.requests[0].body, PAID)

    async def test_unknown_id_is_not_found(self, make_caller: MakeApi) -> None:
        """An id that does not exist is NotFound."""
        api = await make_caller()
        result = await api.call("GetDelivery", {"id": "no-such-delivery"})
        expect_error(result, api.transport, "not_found", "Errors.Delivery.NotFound")


class TestRedeliverDelivery:
    async def test_failed_delivery_is_pending_again(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """A failed delivery is queued again and reports when."""
        api = await make_caller()
        [delivery_id] = await api.failed(make_receiver())
        result = await api.call("RedeliverDelivery", {"id": delivery_id})
        assert parse_timestamp(result.body["redeliverDate"])
        assert (await api.get(delivery_id))["delivery"]["state"] == "DELIVERY_STATE_PENDING"

    async def test_worker_delivers_it_with_the_same_webhook_id(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """After redelivery the receiver gets the delivery again under the same webhook-id, and it succeeds."""
        api = await make_caller()
        receiver = make_receiver()
        [delivery_id] = await api.failed(receiver)
        await api.call("RedeliverDelivery", {"id": delivery_id})
        receiver.respond(status=200)
        await api.drain()
        webhook_ids = [request.header("webhook-id") for request in receiver.requests]
        state = (await api.get(delivery_id))["delivery"]["state"]
        assert (webhook_ids, state) == ([f"msg_{delivery_id}"] * 2, "DELIVERY_STATE_SUCCEEDED")

    async def test_pending_delivery_is_not_found(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """A delivery that is still queued cannot be redelivered."""
        api = await make_caller()
        await api.bind(make_receiver())
        await api.push()
        [delivery_id] = await api.ids()
        result = await api.call("RedeliverDelivery", {"id": delivery_id})
        expect_error(result, api.transport, "not_found", "Errors.Delivery.NotFound")


class TestRedeliverFailed:
    async def test_queues_every_failed_delivery_since(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """All failed deliveries created since the time are pending again, and their count is returned."""
        api = await make_caller()
        failed = await api.failed(make_receiver(), count=2)
        result = await api.call("RedeliverFailed", {"since": SINCE_ALWAYS})
        assert (int(result.body["count"]), await api.ids(states=["DELIVERY_STATE_PENDING"])) == (2, set(failed))

    async def test_skips_failed_deliveries_before_since(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """Failed deliveries created before the time stay failed."""
        api = await make_caller()
        await api.failed(make_receiver())
        result = await api.call("RedeliverFailed", {"since": "2999-01-01T00:00:00Z"})
        assert (int(result.body.get("count", 0)), len(await api.list(states=["DELIVERY_STATE_FAILED"]))) == (0, 1)

    async def test_since_is_required(self, make_caller: MakeApi) -> None:
        """A request without since is an invalid argument."""
        api = await make_caller()
        expect_error(await api.call("RedeliverFailed", {}), api.transport, "invalid_argument")


class TestTestTarget:
    async def test_reports_status_and_latency(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """A reachable target answering 200 reports status 200, a latency and no error."""
        api = await make_caller()
        target_id, _ = await api.add_target(make_receiver())
        result = await api.call("TestTarget", {"targetId": target_id})
        assert (result.body["status"], "error" in result.body) == (200, False)
        assert DURATION.match(result.body["latency"])

    async def test_receiver_gets_a_signed_test_event(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """The receiver gets a callout.target.test event signed with the target's key."""
        api = await make_caller()
        receiver = make_receiver()
        target_id, signing_key = await api.add_target(receiver)
        await api.call("TestTarget", {"targetId": target_id})
        [request] = receiver.requests
        request.verify_signature(signing_key)
        assert request.json()["event_type"] == "callout.target.test"

    async def test_creates_no_delivery(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """Testing a target bound to events leaves the delivery log empty."""
        api = await make_caller()
        target_id = await api.bind(make_receiver())
        result = await api.call("TestTarget", {"targetId": target_id})
        assert (result.ok, await api.list()) == (True, [])

    async def test_server_error_is_reported(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """A target answering 500 reports status 500 with an error."""
        api = await make_caller()
        receiver = make_receiver()
        receiver.respond(status=500)
        target_id, _ = await api.add_target(receiver)
        result = await api.call("TestTarget", {"targetId": target_id})
        assert (result.status, result.body["status"], bool(result.body.get("error"))) == (200, 500, True)

    async def test_response_head_is_reported(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """The answer carries the target's status line, headers and the start of its body."""
        api = await make_caller()
        receiver = make_receiver()
        receiver.respond(status=202, body="accepted-by-receiver", headers={"X-Probe": "seen"})
        target_id, _ = await api.add_target(receiver)
        head = (await api.call("TestTarget", {"targetId": target_id})).body["responseHead"]
        assert (head.startswith("HTTP 202\n"), "x-probe: seen" in head.lower(), "accepted-by-receiver" in head) == (
            True,
            True,
            True,
        )

    async def test_unknown_target_is_not_found(self, make_caller: MakeApi) -> None:
        """An id that is no target is NotFound."""
        api = await make_caller()
        result = await api.call("TestTarget", {"targetId": "no-such-target"})
        expect_error(result, api.transport, "not_found", "Errors.Target.NotFound")


ALL_RPCS = [
    ("ListDeliveries", {}),
    ("GetDelivery", {"id": "x"}),
    ("RedeliverDelivery", {"id": "x"}),
    ("RedeliverFailed", {"since": SINCE_ALWAYS}),
    ("TestTarget", {"targetId": "x"}),
]


class TestPermissions:
    @pytest.mark.parametrize(("rpc", "body"), ALL_RPCS, ids=[rpc for rpc, _ in ALL_RPCS])
    async def test_org_owner_is_denied(self, make_caller: MakeApi, rpc: str, body: dict[str, Any]) -> None:
        """An ORG_OWNER may call none of the DeliveryService RPCs."""
        api = await make_caller(Role.ORG_OWNER)
        expect_error(await api.call(rpc, body), api.transport, "permission_denied")

    async def test_viewer_lists_and_gets(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """An IAM_OWNER_VIEWER sees the instance's deliveries and their attempts."""
        owner = await make_caller()
        [delivery_id] = await owner.failed(make_receiver())
        viewer = await make_caller(Role.IAM_OWNER_VIEWER, owner.instance_id)
        assert (await viewer.ids(), len((await viewer.get(delivery_id))["attempts"])) == ({delivery_id}, 1)

    @pytest.mark.parametrize(("rpc", "body"), ALL_RPCS[2:], ids=[rpc for rpc, _ in ALL_RPCS[2:]])
    async def test_viewer_cannot_change_or_test(
        self, make_caller: MakeApi, make_receiver: MakeReceiver, rpc: str, body: dict[str, Any]
    ) -> None:
        """An IAM_OWNER_VIEWER may neither redeliver nor test a target, even with real ids."""
        owner = await make_caller()
        [delivery_id] = await owner.failed(make_receiver())
        target_id = (await owner.get(delivery_id))["delivery"]["targetId"]
        viewer = await make_caller(Role.IAM_OWNER_VIEWER, owner.instance_id)
        real = {"id": delivery_id, "targetId": target_id, "since": SINCE_ALWAYS}
        result = await viewer.call(rpc, {key: real[key] for key in body})
        expect_error(result, viewer.transport, "permission_denied")
        assert (await owner.get(delivery_id))["delivery"]["state"] == "DELIVERY_STATE_FAILED"


class TestIsolation:
    async def test_other_instance_does_not_list_it(self, make_caller: MakeApi, make_receiver: MakeReceiver) -> None:
        """Another instance's owner lists none of this instance's deliveries."""
        owner = await make_caller()
        await owner.failed(make_receiver())
        stranger = await make_caller()
        assert await stranger.list() == []

    @pytest.mark.parametrize("rpc", ["GetDelivery", "RedeliverDelivery"])
    async def test_other_instance_gets_not_found(
        self, make_caller: MakeApi, make_receiver: MakeReceiver, rpc: str
    ) -> None:
        """Another instance's owner gets NotFound for this instance's delivery id, which stays failed."""
        owner = await make_caller()
        [delivery_id] = await owner.failed(make_receiver())
        stranger = await make_caller()
        expect_error(await stranger.call(rpc, {"id": delivery_id}), stranger.transport, "not_found")
        assert (await owner.get(delivery_id))["delivery"]["state"] == "DELIVERY_STATE_FAILED"

    async def test_other_instance_redeliver_failed_counts_nothing(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """RedeliverFailed in another instance leaves this instance's failed deliveries alone."""
        owner = await make_caller()
        await owner.failed(make_receiver())
        stranger = await make_caller()
        result = await stranger.call("RedeliverFailed", {"since": SINCE_ALWAYS})
        assert (int(result.body.get("count", 0)), len(await owner.list(states=["DELIVERY_STATE_FAILED"]))) == (0, 1)

    async def test_other_instance_cannot_test_the_target(
        self, make_caller: MakeApi, make_receiver: MakeReceiver
    ) -> None:
        """Another instance's owner gets NotFound testing this instance's target, and nothing is sent."""
        owner = await make_caller()
        receiver = make_receiver()
        target_id, _ = await owner.add_target(receiver)
        stranger = await make_caller()
        result = await stranger.call("TestTarget", {"targetId": target_id})
        expect_error(result, stranger.transport, "not_found")
        assert receiver.requests == []
