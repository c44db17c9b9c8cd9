"""Hostile request bodies on every transport: deep, oversized, malformed or cut off, each a 4xx and one log line.

The depth limit (``MAX_JSON_DEPTH``, 100 levels) is counted on the raw body before parsing, for
Connect, REST and Dispatch alike; a body exactly at the limit runs end to end, through request,
response and event executions whose targets are real loopback receivers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import structlog

from callout.api.app import create_app
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.egress import EgressPolicy
from callout.domain.json_depth import MAX_JSON_DEPTH, json_depth
from callout.services import executions as execution_service
from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory
from tests.integration.engine_support import ACTION, Engine, answer

DISPATCH = "/callout.v1.DispatchService"
DEEP = [101, 500, 990, 5000, 100_000]
METHOD = "/example.users.v1.UserService/CreateUser"


def nested(depth: int) -> str:
    """A JSON value of exactly ``depth`` levels: arrays in arrays, the innermost holding a float and a string."""
    return "[" * (depth - 1) + '[1.5,"<&>"]' + "]" * (depth - 1)


@dataclass(frozen=True)
class Route:
    """An HTTP route taking a JSON body, and how a body of a given total depth is built for it."""

    path: str
    role: Role
    body: Callable[[int], str]
    method: str = "POST"


ROUTES = {
    # ListExecutionServices needs no permission: any ORG_OWNER reaches it.
    "connect ListExecutionServices": Route(
        f"{ACTION}/ListExecutionServices", Role.ORG_OWNER, lambda depth: f'{{"a":{nested(depth - 1)}}}'
    ),
    "connect ListTargets": Route(f"{ACTION}/ListTargets", Role.IAM_OWNER, lambda depth: f'{{"a":{nested(depth - 1)}}}'),
    "rest ListTargets": Route(
        "/v2/actions/targets/search", Role.IAM_OWNER, lambda depth: f'{{"a":{nested(depth - 1)}}}'
    ),
    "rest SetExecution": Route(
        "/v2/actions/executions", Role.IAM_OWNER, lambda depth: f'{{"a":{nested(depth - 1)}}}', "PUT"
    ),
    "dispatch RunRequestExecution": Route(
        f"{DISPATCH}/RunRequestExecution",
        Role.IAM_OWNER,
        lambda depth: f'{{"method":"{METHOD}","request":{{"a":{nested(depth - 2)}}}}}',
    ),
    "dispatch PushEvents": Route(
        f"{DISPATCH}/PushEvents",
        Role.IAM_OWNER,
        lambda depth: (
            '{"events":[{"aggregateType":"order","aggregateId":"o-1","eventType":"order.paid",'
            f'"payload":{{"a":{nested(depth - 4)}}}}}]}}'
        ),
    ),
}


@dataclass
class AppEngine(Engine):
    """An Engine that also exposes the ASGI app, for requests httpx cannot make (a client leaving mid-body)."""

    app: Any = None


@pytest.fixture
async def make_engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Any]:
    """Factory: an app in development mode (loopback targets allowed) and a client with a role."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    app = create_app(replace(context, egress=policy, sender=sender))
    clients: list[httpx.AsyncClient] = []
    async with ReceiverFactory() as receivers:

        async def make(role: Role = Role.IAM_OWNER) -> AppEngine:
            principal, token = await make_principal(role)
            await execution_service.register_catalog(
                context, principal, methods=[METHOD], functions=[], events=["order.paid"]
            )
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://callout.test", headers=headers
            )
            clients.append(client)
            return AppEngine(app.state.api.context, client, receivers, principal, app)

        yield make
        for client in clients:
            await client.aclose()
        await app.state.api.context.chains.drain()
    await sender.close()


async def _send(engine: Engine, route: Route, body: str) -> httpx.Response:
    return await engine.client.request(route.method, route.path, content=body.encode())


class TestOverTheLimit:
    @pytest.mark.parametrize("depth", DEEP)
    @pytest.mark.parametrize("name", sorted(ROUTES))
    async def test_deep_body_is_invalid_argument_with_one_log_line(
        self, make_engine: Any, name: str, depth: int
    ) -> None:
        """A body nested 101 to 100,000 levels is a 400 TooDeep, logged as one rpc line without a traceback."""
        route = ROUTES[name]
        engine = await make_engine(route.role)
        body = route.body(depth)
        assert json_depth(body.encode()) == depth
        with structlog.testing.capture_logs() as logs:
            response = await _send(engine, route, body)
        assert (response.status_code, response.json()["message"].split(" ")[0]) == (400, "Errors.Request.TooDeep")
        assert _logged(logs) == [("rpc", "invalid_argument", "Errors.Request.TooDeep")]


def _logged(logs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Each captured log entry as (event, code, error id); an entry with a traceback fails the test."""
    assert not [entry for entry in logs if "exc_info" in entry or entry["event"] == "rpc.failed"]
    return [(entry["event"], entry.get("code", ""), entry.get("error", "")) for entry in logs]


class TestOtherBadBodies:
    @pytest.mark.parametrize("name", ["connect ListTargets", "rest ListTargets"])
    async def test_malformed_body_logs_one_line(self, make_engine: Any, name: str) -> None:
        """Unparsable JSON is a 400 logged as one rpc line naming Errors.Request.MalformedJSON."""
        engine = await make_engine()
        with structlog.testing.capture_logs() as logs:
            response = await _send(engine, ROUTES[name], '{"a": [1,')
        assert response.status_code == 400
        assert _logged(logs) == [("rpc", "invalid_argument", "Errors.Request.MalformedJSON")]

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
    @pytest.mark.parametrize("name", ["dispatch RunRequestExecution", "dispatch PushEvents"])
    async def test_non_finite_number_is_malformed_json(self, make_engine: Any, name: str, number: str) -> None:
        """NaN, an infinity or a float overflowing to one is a 400 MalformedJSON logged as one rpc line."""
        route = ROUTES[name]
        engine = await make_engine(route.role)
        body = route.body(5).replace("[1.5,", f"[{number},")
        with structlog.testing.capture_logs() as logs:
            response = await _send(engine, route, body)
        assert response.status_code == 400
        assert _logged(logs) == [("rpc", "invalid_argument", "Errors.Request.MalformedJSON")]

    @pytest.mark.parametrize(("name", "status"), [("connect ListTargets", 429), ("rest ListTargets", 413)])
    async def test_oversized_body_logs_one_line(self, make_engine: Any, name: str, status: int) -> None:
        """A body over 1 MiB is refused (429 in Connect, 413 in REST) with one rpc line naming TooLarge."""
        engine = await make_engine()
        with structlog.testing.capture_logs() as logs:
            response = await _send(engine, ROUTES[name], "{" + " " * 1024 * 1024 + "}")
        assert response.status_code == status
        assert _logged(logs) == [("rpc", "resource_exhausted", "Errors.Request.TooLarge")]

    async def test_client_leaving_mid_body_logs_one_line(self, make_engine: Any) -> None:
        """A client that disconnects before its body is complete leaves one rpc line, no traceback."""
        engine = await make_engine()
        token = engine.client.headers["authorization"].encode()
        messages = [{"type": "http.request", "body": b'{"a":', "more_body": True}, {"type": "http.disconnect"}]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"{ACTION}/ListTargets",
            "raw_path": f"{ACTION}/ListTargets".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", token), (b"content-type", b"application/json")],
            "server": ("callout.test", 80),
            "client": ("127.0.0.1", 5000),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: Any) -> None:
            sent.append(dict(message))

        with structlog.testing.capture_logs() as logs:
            await engine.app(scope, receive, send)
        assert (sent[0]["status"], _logged(logs)) == (
            400,
            [("rpc", "invalid_argument", "Errors.Request.Incomplete")],
        )


class TestAtTheLimit:
    @pytest.mark.parametrize("name", sorted(ROUTES))
    async def test_body_at_the_limit_is_never_refused_for_its_depth(self, make_engine: Any, name: str) -> None:
        """A body of exactly 100 levels passes the depth check and is handled (or validated) normally."""
        route = ROUTES[name]
        engine = await make_engine(route.role)
        response = await _send(engine, route, route.body(MAX_JSON_DEPTH))
        assert response.status_code < 500
        assert "TooDeep" not in response.text

    async def test_request_execution_gets_a_payload_one_level_deeper(self, make_engine: Any) -> None:
        """An API request of 100 levels reaches a request target inside its payload, then is handled."""
        engine = await make_engine()
        receiver = await engine.receivers.start(answer(200, {}))
        await engine.bind({"request": {"method": f"{ACTION}/ListTargets"}}, [await engine.target(receiver)])
        response = await _send(engine, ROUTES["connect ListTargets"], ROUTES["connect ListTargets"].body(100))
        assert response.status_code == 200, response.text
        payload = json.loads(receiver.hits[0].body)
        assert (json_depth(receiver.hits[0].body), payload["request"]["a"]) == (101, json.loads(nested(99)))

    async def test_dispatched_request_reaches_its_target(self, make_engine: Any) -> None:
        """A RunRequestExecution body of 100 levels is sent to the request target and answered."""
        engine = await make_engine()
        receiver = await engine.receivers.start(answer(200, {"replaced": True}))
        await engine.bind({"request": {"method": METHOD}}, [await engine.target(receiver)])
        response = await _send(
            engine, ROUTES["dispatch RunRequestExecution"], ROUTES["dispatch RunRequestExecution"].body(100)
        )
        assert (response.status_code, response.json()) == (200, {"request": {"replaced": True}})
        assert json_depth(receiver.hits[0].body) == 100

    async def test_dispatched_response_comes_back_unchanged_by_a_webhook(self, make_engine: Any) -> None:
        """A RunResponseExecution with request and response at the limit returns the response as sent."""
        engine = await make_engine()
        receiver = await engine.receivers.start(answer(200, {}))
        await engine.bind({"response": {"method": METHOD}}, [await engine.target(receiver, kind="restWebhook")])
        deep = json.loads(nested(MAX_JSON_DEPTH - 2))
        sent = {"method": METHOD, "request": {"a": deep}, "response": {"b": deep}}
        response = await engine.client.post(f"{DISPATCH}/RunResponseExecution", json=sent)
        assert (response.status_code, response.json()) == (200, {"response": {"b": deep}})
        assert json_depth(receiver.hits[0].body) == MAX_JSON_DEPTH

    async def test_pushed_event_at_the_limit_is_delivered(self, make_engine: Any) -> None:
        """An event payload pushed at the limit is stored and delivered to its event target intact."""
        engine = await make_engine()
        receiver = await engine.receivers.start(answer(200, {}))
        await engine.bind({"event": {"event": "order.paid"}}, [await engine.target(receiver, kind="restWebhook")])
        response = await _send(engine, ROUTES["dispatch PushEvents"], ROUTES["dispatch PushEvents"].body(100))
        assert response.status_code == 200, response.text
        await engine.drain()
        delivered = json.loads(receiver.hits[0].body)
        assert delivered["event_payload"] == {"a": json.loads(nested(96))}
