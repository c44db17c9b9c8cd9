"""The embedded engine (callout.embedded) beside a real ``callout serve --dev`` on the same database.

Each test gets a fresh instance and one host token, used both by a remote DispatchClient (over HTTP
to the server) and by an EmbeddedDispatch (in this process, on the server's database and master key):
the same call must reach the same target with the same bytes, signature and outcome, and async work
queued in-process must be delivered by the server's workers (docs/host-middleware.md, Two modes).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from examples import asgi_app as asgi_example
from examples import flask_app as flask_example
from werkzeug.serving import make_server

from callout.delivery.dispatch_client import DispatchClient, DispatchError
from callout.embedded import PRINCIPAL_TTL_SECONDS, EmbeddedDispatch
from callout.integrations.asgi import CalloutMiddleware
from callout.settings import Settings
from callout.verify import verify_signature
from tests.conftest import BACKENDS
from tests.delivery_receivers import Receiver, ReceiverFactory
from tests.dispatch_support import Actions, actions_client, host_app, run_lifespan, unique_service
from tests.e2e.conftest import Server, StartServer
from tests.integration.engine_support import answer
from tests.tcp_proxy import TcpProxy

DELIVERY_WAIT_SECONDS = 15.0
METHOD = "/example.users.v1.UserService/CreateUser"
EXAMPLE_CREATE_USER = f"/{asgi_example.SERVICE}/CreateUser"


@pytest.fixture(scope="module", params=BACKENDS)
def dev_server(request: pytest.FixtureRequest, start_server: StartServer) -> Server:
    """One development-mode server per backend (plain-http loopback targets allowed)."""
    return start_server(request.param, extra_args=("--dev",))


def embedded_settings(server: Server, **changes: Any) -> Settings:
    """Settings pointing at the server's data: its database and master key, loopback targets allowed."""
    return Settings(data_dir=server.data_dir, database_url=server.database.url, dev=True, **changes)


@dataclass
class Host:
    """One instance's host token as a remote client and as an embedded engine, its Action API, receivers."""

    token: str
    token_id: str
    remote: DispatchClient
    embedded: EmbeddedDispatch
    actions: Actions
    receivers: ReceiverFactory
    server: Server

    async def target(self, reply: Any, kind: str = "restCall", interrupt: bool = True) -> tuple[Receiver, str]:
        """A receiver and a target of ``kind`` calling it; returns the receiver and the signing key."""
        receiver = await self.receivers.start(reply)
        settings = {} if kind == "restAsync" else {"interruptOnError": interrupt}
        body = {"name": f"t-{secrets.token_hex(5)}", kind: settings, "timeout": "5s", "endpoint": receiver.url()}
        created = (await self.actions.rpc("CreateTarget", body)).json()
        self.last_target_id = str(created["id"])
        return receiver, str(created["signingKey"])

    async def hook(self, condition: dict[str, Any], reply: Any, **kind: Any) -> tuple[Receiver, str]:
        """A target answering ``reply`` bound as the only target of ``condition``."""
        receiver, key = await self.target(reply, **kind)
        await self.actions.bind(condition, [self.last_target_id])
        return receiver, key


MakeHost = Callable[[], Awaitable[Host]]


@pytest.fixture
async def make_host(dev_server: Server) -> AsyncIterator[MakeHost]:
    """Factory: a fresh instance with one IAM_OWNER token used remotely and embedded."""
    closers: list[Callable[[], Awaitable[None]]] = []
    async with ReceiverFactory() as receivers:

        async def make() -> Host:
            instance_id = await asyncio.to_thread(dev_server.create_instance)
            token, token_id = await asyncio.to_thread(dev_server.create_token, instance_id)
            remote = DispatchClient(dev_server.base_url, token)
            embedded = EmbeddedDispatch(token, settings=embedded_settings(dev_server))
            actions = actions_client(dev_server.base_url, token)
            closers.extend([remote.close, embedded.close, actions.http.aclose])
            await embedded.register_catalog(methods=[METHOD])
            return Host(token, token_id, remote, embedded, actions, receivers, dev_server)

        yield make
        for close in closers:
            await close()


@pytest.fixture
async def host(make_host: MakeHost) -> Host:
    """A fresh instance's host, remote and embedded."""
    return await make_host()


async def eventually(check: Callable[[], bool], seconds: float = DELIVERY_WAIT_SECONDS) -> None:
    """Wait until ``check()`` holds, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


CALL = {"headers": {"Content-Type": ["application/json"]}, "user_id": "end-user", "org_id": "org-9"}


class TestSameAsRemote:
    async def test_request_payload_bytes_are_identical(self, host: Host) -> None:
        """A request execution run embedded sends the target the very bytes the remote run sends."""
        receiver, _ = await host.hook({"request": {"method": METHOD}}, answer(200, {"name": "x"}))
        await host.remote.run_request(METHOD, {"name": "ada"}, **CALL)
        await host.embedded.run_request(METHOD, {"name": "ada"}, **CALL)
        assert receiver.hits[0].body == receiver.hits[1].body

    async def test_both_signatures_verify_with_the_targets_key(self, host: Host) -> None:
        """Both calls carry a ZITADEL-Signature made with the target's signing key."""
        receiver, key = await host.hook({"request": {"method": METHOD}}, answer(200, {"name": "x"}))
        await host.remote.run_request(METHOD, {"name": "ada"}, **CALL)
        await host.embedded.run_request(METHOD, {"name": "ada"}, **CALL)
        for hit in receiver.hits:
            verify_signature(hit.body, hit.header_values("ZITADEL-Signature")[0].decode(), key)

    async def test_replaced_request_is_the_same(self, host: Host) -> None:
        """A rest_call target's answer replaces the request identically in both modes."""
        await host.hook({"request": {"method": METHOD}}, answer(200, {"name": "Replaced"}))
        remote = await host.remote.run_request(METHOD, {"name": "ada"}, **CALL)
        embedded = await host.embedded.run_request(METHOD, {"name": "ada"}, **CALL)
        assert remote == embedded == {"name": "Replaced"}

    async def test_response_payload_bytes_are_identical(self, host: Host) -> None:
        """A response execution run embedded sends the target the very bytes the remote run sends."""
        receiver, _ = await host.hook({"response": {"method": METHOD}}, answer(200, {"id": "2"}))
        await host.remote.run_response(METHOD, {"name": "ada"}, {"id": "1"}, **CALL)
        await host.embedded.run_response(METHOD, {"name": "ada"}, {"id": "1"}, **CALL)
        assert receiver.hits[0].body == receiver.hits[1].body

    async def test_interrupting_failure_is_the_same_error(self, host: Host) -> None:
        """A failing interrupting target gives the same status, code and message id in both modes."""
        await host.hook({"request": {"method": METHOD}}, answer(500, {"error": "no"}))
        errors = []
        for client in (host.remote, host.embedded):
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {"name": "ada"}, **CALL)
            errors.append((caught.value.status, caught.value.code, caught.value.message_id))
        assert errors[0] == errors[1]

    async def test_function_result_is_the_same(self, host: Host) -> None:
        """A function execution merges the same answers in both modes."""
        await host.hook(
            {"function": {"name": "preuserinfo"}}, answer(200, {"append_claims": [{"key": "k", "value": 1}]})
        )
        context = {"userinfo": {"sub": "u1"}}
        remote = await host.remote.apply_function("preuserinfo", context)
        assert remote == await host.embedded.apply_function("preuserinfo", context)

    async def test_bad_method_is_the_same_invalid_argument(self, host: Host) -> None:
        """A method name that is not /pkg.Service/Method is invalid_argument in both modes."""
        codes = []
        for client in (host.remote, host.embedded):
            with pytest.raises(DispatchError) as caught:
                await client.run_request("not a method", {})
            codes.append((caught.value.status, caught.value.code))
        assert codes == [(400, "invalid_argument")] * 2


class TestAsyncWork:
    async def test_rest_async_target_is_delivered_by_the_workers(self, host: Host) -> None:
        """A rest_async target of an embedded request execution is delivered by callout serve's workers."""
        receiver, _ = await host.hook({"request": {"method": METHOD}}, answer(200), kind="restAsync")
        assert await host.embedded.run_request(METHOD, {"name": "ada"}) == {"name": "ada"}
        await eventually(lambda: len(receiver.hits) == 1)

    async def test_pushed_event_is_delivered_by_the_workers(self, host: Host) -> None:
        """An event pushed in-process reaches the event execution's target through the workers."""
        await host.embedded.register_catalog(events=["user.created"])
        receiver, _ = await host.hook({"event": {"event": "user.created"}}, answer(200))
        event = {"aggregateType": "user", "aggregateId": "u1", "eventType": "user.created", "payload": {"a": 1}}
        [stored] = await host.embedded.push_events([event])
        await eventually(lambda: len(receiver.hits) == 1)
        assert json.loads(receiver.hits[0].body)["event_type"] == stored["eventType"]

    async def test_burst_of_async_calls_all_get_delivered(self, host: Host) -> None:
        """Forty concurrent embedded calls queue forty deliveries, and every one arrives."""
        receiver, _ = await host.hook({"request": {"method": METHOD}}, answer(200), kind="restAsync")
        await asyncio.gather(*(host.embedded.run_request(METHOD, {"n": n}) for n in range(40)))
        await eventually(lambda: len(receiver.hits) == 40)
        assert sorted(json.loads(hit.body)["request"]["n"] for hit in receiver.hits) == list(range(40))


class TestIdentity:
    async def test_revoked_token_is_refused(self, host: Host) -> None:
        """Revoking the host's token stops the embedded engine (401) once its kept grant runs out."""
        await host.embedded.run_request(METHOD, {})
        await asyncio.to_thread(host.server.admin, "tokens", "revoke", host.token_id)
        statuses: list[int] = []
        for _ in range(100):  # up to 5 s; the grant is kept for PRINCIPAL_TTL_SECONDS (1 s)
            try:
                await host.embedded.run_request(METHOD, {})
            except DispatchError as error:
                statuses.append(error.status)
                break
            await asyncio.sleep(0.05)
        assert statuses == [401]

    async def test_wrong_master_key_is_refused_at_open(self, host: Host) -> None:
        """An engine given a master key that is not the database's fails with a DispatchError naming it."""
        wrong = EmbeddedDispatch(
            host.token,
            settings=embedded_settings(host.server, master_key=base64.b64encode(secrets.token_bytes(32)).decode()),
        )
        with pytest.raises(DispatchError) as caught:
            await wrong.run_request(METHOD, {})
        await wrong.close()
        assert "key" in caught.value.message.lower()


class TestMiddleware:
    async def build(self, host: Host, service: str) -> httpx.AsyncClient:
        """The test host app for ``service`` wrapped with the embedded engine, lifespan started."""
        app = CalloutMiddleware(host_app(), client=host.embedded, service=service)
        await run_lifespan(app)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users.test")

    async def test_rest_call_target_replaces_the_request_in_process(self, host: Host) -> None:
        """Behind the middleware, a request target's answer replaces the body the handler sees."""
        service = unique_service()
        async with await self.build(host, service) as http:
            await host.hook({"request": {"method": f"/{service}/CreateUser"}}, answer(200, {"name": "Replaced"}))
            host.embedded.routing(service)
            await host.embedded.refresh_routing()
            response = await http.post("/users", json={"name": "original"})
        assert response.json()["user"]["name"] == "Replaced"

    async def test_nothing_bound_avoids_the_engine(self, host: Host) -> None:
        """With nothing bound, requests reach the app without running any execution (counted as avoided)."""
        service = unique_service()
        async with await self.build(host, service) as http:
            host.embedded.routing(service)
            await host.embedded.refresh_routing()
            for _ in range(3):
                assert (await http.get("/users/1")).status_code == 200
        assert host.embedded.stats.calls_avoided == 3

    async def test_added_execution_applies_without_a_refresh(self, host: Host) -> None:
        """An execution set through the API reaches the embedded middleware through its routing poll."""
        service = unique_service()
        async with await self.build(host, service) as http:
            host.embedded.routing(service)
            await host.embedded.refresh_routing()
            await host.hook({"request": {"method": f"/{service}/CreateUser"}}, answer(200, {"name": "Late"}))
            seen: list[Any] = []
            for _ in range(100):  # up to 5 s; the poll sees the change within ~0.2 s
                seen.append((await http.post("/users", json={"name": "original"})).json()["user"]["name"])
                if seen[-1] == "Late":
                    break
                await asyncio.sleep(0.05)
        assert seen[-1] == "Late"


@pytest.fixture
def embedded_environment(host: Host, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The environment the examples document for embedded mode, pointing at the host's server and token."""
    monkeypatch.setenv("CALLOUT_EMBEDDED", "1")
    monkeypatch.setenv("CALLOUT_DEV", "true")
    monkeypatch.setenv("CALLOUT_TOKEN", host.token)
    monkeypatch.setenv("CALLOUT_DATA_DIR", str(host.server.data_dir))
    if host.server.database.url is not None:
        monkeypatch.setenv("CALLOUT_DATABASE_URL", host.server.database.url)
    return host


class TestExamplesEmbedded:
    async def test_asgi_example_runs_embedded(self, embedded_environment: Host) -> None:
        """examples/asgi_app.py with CALLOUT_EMBEDDED=1 runs a request target from its own process."""
        host = embedded_environment
        client = asgi_example.client_from_environment()
        assert isinstance(client, EmbeddedDispatch)
        app = asgi_example.build_app(client)
        await run_lifespan(app)
        await host.hook({"request": {"method": EXAMPLE_CREATE_USER}}, answer(200, {"name": "Embedded"}))
        await client.refresh_routing()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users.test") as http:
            client.routing(asgi_example.SERVICE)
            await client.refresh_routing()
            response = await http.post("/users", json={"name": "original"})
        await client.close()
        assert response.json()["user"]["name"] == "Embedded"

    async def test_flask_example_runs_embedded(self, embedded_environment: Host) -> None:
        """examples/flask_app.py with CALLOUT_EMBEDDED=1 under a threaded WSGI server runs a request target."""
        host = embedded_environment
        app, middleware = flask_example.build_app(flask_example.client_from_environment())
        await asyncio.to_thread(middleware.ensure_registered)
        await host.hook({"request": {"method": EXAMPLE_CREATE_USER}}, answer(200, {"name": "Embedded"}))
        await asyncio.to_thread(middleware.refresh_routing)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.server_port}", timeout=10) as http:
                response = await http.post("/users", json={"name": "original"})
        finally:
            await asyncio.to_thread(server.shutdown)
            await asyncio.to_thread(middleware.close)
        assert response.json()["user"]["name"] == "Embedded"


@pytest.fixture(scope="module")
def postgres_server(start_server: StartServer) -> Server:
    """A development-mode server on PostgreSQL, whose database an embedded host reaches through a proxy."""
    return start_server("postgresql", extra_args=("--dev",))


@dataclass
class CutHost:
    """An embedded host whose PostgreSQL connection runs through a proxy that has been cut."""

    http: httpx.AsyncClient
    embedded: EmbeddedDispatch
    proxy: TcpProxy

    async def close(self) -> None:
        """Close the app's client, the engine and the proxy."""
        await self.http.aclose()
        await self.embedded.close()
        await self.proxy.close()


class TestDatabaseUnreachable:
    async def cut_off(self, server: Server, receivers: ReceiverFactory) -> CutHost:
        """A host embedding the engine through a proxy to PostgreSQL, CreateUser bound, then the proxy cut."""
        instance_id = await asyncio.to_thread(server.create_instance)
        token, _ = await asyncio.to_thread(server.create_token, instance_id)
        proxy = await TcpProxy("127.0.0.1", 5432).start()
        assert server.database.url is not None
        proxied = server.database.url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        embedded = EmbeddedDispatch(token, settings=Settings(data_dir=server.data_dir, database_url=proxied, dev=True))
        app = CalloutMiddleware(host_app(), client=embedded, service=(service := unique_service()))
        await run_lifespan(app)
        actions = actions_client(server.base_url, token)
        receiver = await receivers.start(answer(200, {"name": "x"}))
        await actions.bind({"request": {"method": f"/{service}/CreateUser"}}, [await actions.target(receiver)])
        await actions.http.aclose()
        embedded.routing(service)
        await embedded.refresh_routing()
        await proxy.cut()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users.test")
        return CutHost(http, embedded, proxy)

    async def test_unmatched_route_is_served(self, postgres_server: Server) -> None:
        """With callout's database cut off, a route no execution applies to still answers 200."""
        async with ReceiverFactory() as receivers:
            host = await self.cut_off(postgres_server, receivers)
            await asyncio.sleep(PRINCIPAL_TTL_SECONDS)
            response = await host.http.get("/users/1")
            await host.close()
        assert response.status_code == 200

    async def test_interrupting_route_fails_closed(self, postgres_server: Server) -> None:
        """With callout's database cut off, once the kept grant runs out an interrupting route answers 503."""
        async with ReceiverFactory() as receivers:
            host = await self.cut_off(postgres_server, receivers)
            await asyncio.sleep(PRINCIPAL_TTL_SECONDS)
            response = await host.http.post("/users", json={"name": "ada"})
            await host.close()
        assert (response.status_code, "unreachable" in response.json()["message"]) == (503, True)
