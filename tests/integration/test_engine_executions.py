"""Executions around callout's own API, with real receivers on loopback.

Ports ZITADEL's TestServer_ExecutionTarget and the chain cases of its execution tests: exact request
bodies, rest_call replacement, interrupting and non-interrupting failures, forwarded errors,
timeouts, async targets, best-match routing, and the SYSTEM token bypass.

See docs/behaviour.md, Calling targets; Where executions run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from prometheus_client import generate_latest

from callout.api.app import create_app
from callout.api.metrics import ApiMetrics
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.egress import EgressPolicy
from callout.services.context import ServiceContext
from callout.verify import verify_signature
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory
from tests.integration.engine_support import ACTION, Engine, answer

GET_TARGET = f"{ACTION}/GetTarget"


@pytest.fixture
async def make_engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[object]:
    """Factory: an app in development mode (loopback targets allowed) and a client with a role."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    app = create_app(replace(context, egress=policy, sender=sender))
    clients: list[httpx.AsyncClient] = []
    async with ReceiverFactory() as receivers:

        async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Engine:
            principal, token = await make_principal(role, instance_id)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://callout.test",
                headers={"Authorization": f"Bearer {token}"},
            )
            clients.append(client)
            return Engine(app.state.api.context, client, receivers, principal)

        yield make
        for client in clients:
            await client.aclose()
        await app.state.api.context.chains.drain()
    await sender.close()


@pytest.fixture
async def engine(make_engine: object) -> Engine:
    """An IAM_OWNER's engine."""
    return await make_engine()  # type: ignore[operator]


class TestExecutionTarget:
    async def test_request_target_receives_the_exact_body(self, engine: Engine, context: ServiceContext) -> None:
        """A request rest_call target on GetTarget receives ZITADEL's request payload byte for byte."""
        receiver = await engine.receivers.start(answer(200, {"id": "something"}))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver)])
        await engine.rpc("GetTarget", {"id": "something"})
        p = engine.principal
        expected = (
            f'{{"fullMethod":"{GET_TARGET}","instanceID":"{p.instance_id}","orgID":"{p.org_id}",'
            f'"userID":"{p.user_id}","request":{{"id":"something"}},'
            '"headers":{"Content-Type":["application/json"],"Host":["callout.test"]}}'
        )
        assert receiver.hits[0].body == expected.encode()

    async def test_request_target_sees_protojson_key_names(self, engine: Engine) -> None:
        """A request sent with snake_case keys and nulls reaches request targets in protojson spelling."""
        receiver = await engine.receivers.start(answer(200))
        create = f"{ACTION}/CreateTarget"
        await engine.bind({"request": {"method": create}}, [await engine.target(receiver, "restWebhook")])
        sent = {"name": "snake", "rest_call": {"interrupt_on_error": True}, "timeout": "5s", "endpoint": receiver.url()}
        response = await engine.rpc("CreateTarget", {**sent, "payload_type": "PAYLOAD_TYPE_JSON", "expiration": None})
        assert response.status_code == 200, response.text
        assert json.loads(receiver.hits[0].body)["request"] == {
            "name": "snake",
            "restCall": {"interruptOnError": True},
            "timeout": "5s",
            "endpoint": receiver.url(),
            "payloadType": "PAYLOAD_TYPE_JSON",
        }

    async def test_request_target_replaces_the_request(self, engine: Engine) -> None:
        """A request rest_call answer replaces the request the handler sees."""
        real = await engine.target(await engine.receivers.start())
        receiver = await engine.receivers.start(answer(200, {"id": real}))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver)])
        response = await engine.rpc("GetTarget", {"id": "something"})
        assert (response.status_code, response.json()["target"]["id"]) == (200, real)

    async def test_response_target_changes_what_the_client_gets(self, engine: Engine) -> None:
        """A response rest_call answer is the response the client receives."""
        real = await engine.target(await engine.receivers.start())
        receiver = await engine.receivers.start(answer(200, {"target": {"id": "changed"}}))
        await engine.bind({"response": {"method": GET_TARGET}}, [await engine.target(receiver)])
        response = await engine.rpc("GetTarget", {"id": real})
        sent = json.loads(receiver.hits[0].body)
        assert (response.json(), sent["request"], sent["response"]["target"]["id"]) == (
            {"target": {"id": "changed"}},
            {"id": real},
            real,
        )

    async def test_interrupting_request_target_answering_500_fails_the_call(self, engine: Engine) -> None:
        """An interrupting request target answering 500 fails the call with Errors.Execution.Failed."""
        receiver = await engine.receivers.start(answer(500))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver)])
        response = await engine.rpc("GetTarget", {"id": "x"})
        assert (response.status_code, response.json()["details"][0]["debug"]["id"]) == (400, "Errors.Execution.Failed")

    async def test_interrupting_response_target_answering_500_fails_the_call(self, engine: Engine) -> None:
        """An interrupting response target answering 500 fails the call."""
        real = await engine.target(await engine.receivers.start())
        receiver = await engine.receivers.start(answer(500))
        await engine.bind({"response": {"method": GET_TARGET}}, [await engine.target(receiver)])
        assert (await engine.rpc("GetTarget", {"id": real})).status_code == 400

    async def test_each_target_is_called_exactly_once(self, engine: Engine) -> None:
        """Request and response targets of one call are each called once."""
        real = await engine.target(await engine.receivers.start())
        request_receiver = await engine.receivers.start(answer(200, {"id": real}))
        response_receiver = await engine.receivers.start(answer(200, {"target": {"id": "changed"}}))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(request_receiver)])
        await engine.bind({"response": {"method": GET_TARGET}}, [await engine.target(response_receiver)])
        await engine.rpc("GetTarget", {"id": "something"})
        assert (len(request_receiver.hits), len(response_receiver.hits)) == (1, 1)


class TestChains:
    async def test_non_interrupting_failure_leaves_the_request_unchanged(self, engine: Engine) -> None:
        """A failing non-interrupting target is skipped and the next target sees the original request."""
        failing = await engine.receivers.start(answer(500))
        second = await engine.receivers.start(answer(200, {"id": "x"}))
        chain = [await engine.target(failing, interrupt=False), await engine.target(second, kind="restWebhook")]
        await engine.bind({"request": {"method": GET_TARGET}}, chain)
        await engine.rpc("GetTarget", {"id": "original"})
        assert json.loads(second.hits[0].body)["request"] == {"id": "original"}

    async def test_chained_calls_see_earlier_changes(self, engine: Engine) -> None:
        """The second rest_call target receives the request as the first one replaced it."""
        first = await engine.receivers.start(answer(200, {"id": "content1"}))
        second = await engine.receivers.start(answer(200, {"id": "content2"}))
        await engine.bind(
            {"request": {"method": GET_TARGET}}, [await engine.target(first), await engine.target(second)]
        )
        await engine.rpc("GetTarget", {"id": "original"})
        assert json.loads(second.hits[0].body)["request"] == {"id": "content1"}

    async def test_interrupting_forwarded_error_stops_the_chain(self, engine: Engine) -> None:
        """A forwarded 403 stops the chain, later targets are not called, the caller gets PermissionDenied."""
        first = await engine.receivers.start(answer(200, {"forwardedStatusCode": 403, "forwardedErrorMessage": "nope"}))
        second = await engine.receivers.start()
        await engine.bind(
            {"request": {"method": GET_TARGET}}, [await engine.target(first), await engine.target(second)]
        )
        response = await engine.rpc("GetTarget", {"id": "x"})
        assert (response.status_code, response.json()["code"], "nope" in response.json()["message"]) == (
            403,
            "permission_denied",
            True,
        )
        assert second.hits == []

    async def test_forwarded_server_status_is_failed_precondition(self, engine: Engine) -> None:
        """A forwarded status outside 4xx becomes FailedPrecondition with the forwarded message."""
        receiver = await engine.receivers.start(answer(200, {"forwardedStatusCode": 503, "forwardedErrorMessage": "m"}))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver)])
        assert (await engine.rpc("GetTarget", {"id": "x"})).json()["code"] == "failed_precondition"

    async def test_interrupting_timeout_fails_the_call(self, engine: Engine) -> None:
        """An interrupting target slower than its timeout fails the call with DeadlineExceeded."""
        receiver = await engine.receivers.start(answer(200, {"id": "x"}, delay=2.0))
        target = await engine.target(receiver)
        await engine.rpc("UpdateTarget", {"id": target, "timeout": "0.2s"})
        await engine.bind({"request": {"method": GET_TARGET}}, [target])
        response = await engine.rpc("GetTarget", {"id": "x"})
        assert (response.status_code, response.json()["code"]) == (504, "deadline_exceeded")

    async def test_async_target_never_fails_the_call(self, engine: Engine) -> None:
        """A rest_async target answering 500 does not fail the call; a worker delivers (and retries) it."""
        receiver = await engine.receivers.start(answer(500))
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver, kind="restAsync")])
        response = await engine.rpc("GetTarget", {"id": "unknown"})
        await engine.drain()
        # A 500 is retried after a jittered back-off, so a fast drain may already see a retry.
        assert (response.json()["code"], len(receiver.hits) >= 1) == ("not_found", True)

    async def test_redirect_is_not_followed(self, engine: Engine) -> None:
        """A 302 answer is a failure, and the redirect location is never called."""
        elsewhere = await engine.receivers.start()

        async def redirect(_request: object) -> object:
            from aiohttp import web

            raise web.HTTPFound(elsewhere.url())

        receiver = await engine.receivers.start(redirect)  # type: ignore[arg-type]
        await engine.bind({"request": {"method": GET_TARGET}}, [await engine.target(receiver)])
        response = await engine.rpc("GetTarget", {"id": "x"})
        assert (response.status_code, elsewhere.hits) == (400, [])

    async def test_signature_verifies_with_the_signing_key(self, engine: Engine) -> None:
        """The ZITADEL-Signature header verifies against the key CreateTarget returned."""
        receiver = await engine.receivers.start(answer(200, {"id": "x"}))
        created = await engine.rpc(
            "CreateTarget",
            {"name": "signed", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url()},
        )
        await engine.bind({"request": {"method": GET_TARGET}}, [created.json()["id"]])
        await engine.rpc("GetTarget", {"id": "x"})
        hit = receiver.hits[0]
        header = hit.header_values("ZITADEL-Signature")[0].decode()
        verify_signature(hit.body, header, created.json()["signingKey"])


class TestRouting:
    async def test_method_execution_beats_service_and_all(self, engine: Engine) -> None:
        """With executions on all, the service and the method, only the method's targets run."""
        receivers = [await engine.receivers.start() for _ in range(3)]
        targets = [await engine.target(r, kind="restWebhook") for r in receivers]
        await engine.bind({"request": {"all": True}}, [targets[0]])
        await engine.bind({"request": {"service": "zitadel.action.v2.ActionService"}}, [targets[1]])
        await engine.bind({"request": {"method": GET_TARGET}}, [targets[2]])
        for receiver in receivers:  # the binds themselves went through the "all" and service executions
            receiver.hits.clear()
        await engine.rpc("GetTarget", {"id": "x"})
        assert [len(r.hits) for r in receivers] == [0, 0, 1]

    async def test_service_execution_applies_to_other_methods(self, engine: Engine) -> None:
        """A service-level execution runs for a method without its own execution."""
        receiver = await engine.receivers.start()
        await engine.bind(
            {"request": {"service": "zitadel.action.v2.ActionService"}},
            [await engine.target(receiver, kind="restWebhook")],
        )
        await engine.rpc("ListTargets", {})
        assert len(receiver.hits) == 1

    async def test_new_execution_applies_to_the_very_next_call(self, engine: Engine) -> None:
        """An execution set right after a call already applies to the next call (no stale cache)."""
        receiver = await engine.receivers.start()
        target = await engine.target(receiver, kind="restWebhook")
        await engine.rpc("ListTargets", {})
        await engine.bind({"request": {"method": f"{ACTION}/ListTargets"}}, [target])
        await engine.rpc("ListTargets", {})
        assert len(receiver.hits) == 1

    async def test_system_token_bypasses_executions(self, make_engine: object) -> None:
        """Calls with a SYSTEM token skip executions, so a broken target cannot lock the operator out."""
        owner: Engine = await make_engine()  # type: ignore[operator]
        system: Engine = await make_engine(Role.SYSTEM, owner.principal.instance_id)  # type: ignore[operator]
        receiver = await owner.receivers.start(answer(500))
        await owner.bind({"request": {"all": True}}, [await owner.target(receiver)])
        statuses = ((await owner.rpc("ListTargets", {})).status_code, (await system.rpc("ListTargets", {})).status_code)
        assert (statuses, len(receiver.hits)) == ((400, 200), 1)


class TestMetrics:
    async def test_target_call_outcomes_are_exported(self, engine: Engine) -> None:
        """After a successful and a failed call the metrics count both outcomes."""
        ok = await engine.receivers.start()
        failing = await engine.receivers.start(answer(500))
        chain = [await engine.target(ok, kind="restWebhook"), await engine.target(failing, interrupt=False)]
        await engine.bind({"request": {"method": GET_TARGET}}, chain)
        await engine.rpc("GetTarget", {"id": "x"})
        metrics = ApiMetrics()
        metrics.watch(engine.context)
        text = generate_latest(metrics.registry).decode()
        assert 'callout_target_calls_total{outcome="ok"} 1.0' in text
        assert 'callout_target_calls_total{outcome="Errors.Execution.Failed"} 1.0' in text
