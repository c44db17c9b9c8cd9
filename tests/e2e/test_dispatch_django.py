"""The Django example (examples/django_app.py) under a real WSGI server, in front of a real ``callout serve --dev``.

One server per backend (SQLite, PostgreSQL) for the module. werkzeug's threaded server runs Django's
WSGI application behind ``wrap_django`` on 127.0.0.1; the middleware's DispatchClient reaches callout
through a TCP proxy the tests can cut, and callout calls aiohttp receivers on 127.0.0.1
(tests/e2e/wsgi_hosts.py). Every test gets its own instance, so executions never meet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from examples.django_app import SERVICE, build_app

from callout.delivery.dispatch_client import DispatchClient
from callout.integrations.wsgi import CalloutWSGIMiddleware
from callout.integrations.wsgi_response import WSGIApp
from tests.conftest import BACKENDS
from tests.e2e.conftest import Server, StartServer
from tests.e2e.wsgi_hosts import MakeHost, WSGIHost, wsgi_hosts
from tests.integration.engine_support import answer

pytestmark = pytest.mark.e2e

CREATE_USER = f"/{SERVICE}/CreateUser"
GET_USER = f"/{SERVICE}/GetUser"


@pytest.fixture(scope="module", params=BACKENDS)
def dev_server(request: pytest.FixtureRequest, start_server: StartServer) -> Server:
    """One development-mode server per backend (plain-http loopback targets allowed)."""
    return start_server(request.param, extra_args=("--dev",))


def build_django(client: DispatchClient, **options: Any) -> tuple[WSGIApp, CalloutWSGIMiddleware]:
    """The Django example: the middleware is itself the WSGI application to serve."""
    middleware = build_app(client, **options)
    return middleware, middleware


@pytest.fixture
async def make_host(dev_server: Server) -> AsyncIterator[MakeHost]:
    """Factory: the Django example for a new instance, served by werkzeug on 127.0.0.1, its methods registered."""
    async with wsgi_hosts(dev_server, build_django) as make:
        yield make


@pytest.fixture
async def host(make_host: MakeHost) -> WSGIHost:
    """The Django example of a fresh instance."""
    return await make_host()


class TestDjangoExample:
    async def test_methods_are_registered(self, host: WSGIHost) -> None:
        """The URL names create_user and get_user are CreateUser and GetUser in ListExecutionMethods."""
        methods = await host.actions.listed("ListExecutionMethods", "methods")
        assert {CREATE_USER, GET_USER} <= set(methods)

    async def test_rest_call_target_replaces_the_request(self, host: WSGIHost) -> None:
        """The Django view creates the user from the body a request target returned."""
        await host.hook({"request": {"method": CREATE_USER}}, answer(200, {"name": "Replaced", "email": "r@x.test"}))
        response = await host.http.post("/users", json={"name": "original"})
        assert (response.json()["user"]["name"], response.json()["user"]["email"]) == ("Replaced", "r@x.test")

    async def test_rest_call_target_replaces_the_response(self, host: WSGIHost) -> None:
        """The client gets the body a response target returned instead of the Django view's."""
        created = (await host.http.post("/users", json={"name": "ada"})).json()["user"]
        await host.hook({"response": {"method": GET_USER}}, answer(200, {"user": {"id": "0", "name": "masked"}}))
        response = await host.http.get(f"/users/{created['id']}")
        assert response.json() == {"user": {"id": "0", "name": "masked"}}

    async def test_forwarded_403_becomes_http_403(self, host: WSGIHost) -> None:
        """A forwarded 403 answers 403 with the forwarded message before the view runs."""
        reply = answer(200, {"forwardedStatusCode": 403, "forwardedErrorMessage": "sign-up is closed"})
        await host.hook({"request": {"method": CREATE_USER}}, reply)
        response = await host.http.post("/users", json={"name": "x"})
        assert (response.status_code, response.json()) == (
            403,
            {"code": "permission_denied", "message": "sign-up is closed"},
        )


class TestRoutingSnapshot:
    async def test_no_execution_makes_no_call_to_callout(self, make_host: MakeHost) -> None:
        """With no execution bound and callout cut off, even a fail-closed middleware serves the Django view."""
        host = await make_host(on_unavailable="fail_closed")
        await host.refresh()
        await host.proxy.cut()
        response = await host.http.post("/users", json={"name": "ada"})
        assert (response.status_code, response.json()["user"]["name"]) == (200, "ada")

    async def test_avoided_calls_are_counted(self, host: WSGIHost) -> None:
        """A request that needed no Dispatch call adds one to the client's ``stats.calls_avoided``."""
        await host.refresh()
        before = host.calls_avoided()
        await host.http.get("/health")
        assert host.calls_avoided() - before == 1


class TestCalloutUnreachable:
    async def cut_off(self, host: WSGIHost) -> None:
        """Bind an interrupting request execution to CreateUser, then cut callout off."""
        await host.hook({"request": {"method": CREATE_USER}}, answer(200, {"name": "x"}))
        await host.proxy.cut()

    async def test_unmatched_route_answers_200(self, host: WSGIHost) -> None:
        """A Django route no execution applies to is served while callout is cut off."""
        await self.cut_off(host)
        assert (await host.http.get("/health")).status_code == 200

    async def test_interrupting_route_answers_503(self, host: WSGIHost) -> None:
        """A Django route with an interrupting execution fails closed with 503 and a clear message."""
        await self.cut_off(host)
        response = await host.http.post("/users", json={"name": "ada"})
        assert (response.status_code, response.json()["code"]) == (503, "unavailable")
        assert "unreachable" in response.json()["message"]
