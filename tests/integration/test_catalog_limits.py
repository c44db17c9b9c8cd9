"""RegisterCatalog within its caps: entries per call and per instance, for each kind, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from callout.api.app import create_app
from callout.domain.auth import Role
from callout.domain.catalog import CatalogLimits
from callout.services.context import ServiceContext
from tests.conftest import MakeClient, MakePrincipal
from tests.dispatch_support import ACTION, DISPATCH

Register = Callable[[dict[str, Any]], Awaitable[httpx.Response]]
SMALL = CatalogLimits(methods=3, functions=2, events=2)


def _methods(count: int, service: str = "shop.v1.Orders") -> list[str]:
    return [f"/{service}/Method{index}" for index in range(count)]


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["details"][0]["debug"]["id"]


@pytest.fixture
async def make_register(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Any]:
    """Factory: RegisterCatalog (and a listing client) for a new instance, under the given caps."""
    clients: list[httpx.AsyncClient] = []

    async def make(limits: CatalogLimits = SMALL) -> tuple[Register, httpx.AsyncClient]:
        app = create_app(replace(context, catalog_limits=limits))
        _, token = await make_principal(Role.IAM_OWNER)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://callout.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)

        async def register(body: dict[str, Any]) -> httpx.Response:
            return await client.post(f"{DISPATCH}/RegisterCatalog", json=body)

        return register, client

    yield make
    for client in clients:
        await client.aclose()


class TestCatalogCaps:
    async def test_twenty_thousand_methods_in_one_call_are_refused(
        self, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """With the default caps one call of 20,000 methods is InvalidArgument TooManyEntries, and nothing is stored."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = make_client(token)
        response = await client.post(f"{DISPATCH}/RegisterCatalog", json={"methods": _methods(20_000)})
        listed = await client.post(f"{ACTION}/ListExecutionMethods", json={})
        assert _error(response) == (400, "invalid_argument", "Errors.Catalog.TooManyEntries")
        assert "/shop.v1.Orders/Method0" not in listed.json()["methods"]

    async def test_entries_up_to_the_cap_are_registered(self, make_register: Any) -> None:
        """As many methods, functions and events as the caps allow are all accepted."""
        register, _ = await make_register()
        response = await register({"methods": _methods(3), "functions": ["f1", "f2"], "events": ["a.b", "a.c"]})
        assert (response.status_code, response.json()) == (200, {})

    @pytest.mark.parametrize(
        ("kind", "first", "more"),
        [
            ("methods", _methods(3), _methods(1, "shop.v1.Carts")),
            ("functions", ["f1", "f2"], ["f3"]),
            ("events", ["a.b", "a.c"], ["a.d"]),
        ],
    )
    async def test_registering_past_the_instance_cap_is_resource_exhausted(
        self, make_register: Any, kind: str, first: list[str], more: list[str]
    ) -> None:
        """One entry more than the instance may hold, over two calls, is ResourceExhausted Errors.Catalog.Full."""
        register, _ = await make_register()
        assert (await register({kind: first})).status_code == 200
        assert _error(await register({kind: more})) == (429, "resource_exhausted", "Errors.Catalog.Full")

    async def test_refused_call_stores_none_of_its_entries(self, make_register: Any) -> None:
        """A call refused for one kind leaves the other kinds of the same call unregistered too."""
        register, client = await make_register()
        await register({"events": ["a.b", "a.c"]})
        await register({"functions": ["fresh"], "events": ["a.d"]})
        listed = await client.post(f"{ACTION}/ListExecutionFunctions", json={})
        assert "fresh" not in listed.json()["functions"]

    async def test_known_entries_do_not_count_again(self, make_register: Any) -> None:
        """Registering the same full set again, and duplicates within a call, stay within the cap."""
        register, _ = await make_register()
        await register({"methods": _methods(3)})
        again = await register({"methods": [*_methods(3), *_methods(3)]})
        assert again.status_code == 200

    async def test_one_call_over_a_kinds_cap_is_invalid_argument(self, make_register: Any) -> None:
        """A single call with more events than an instance may hold is InvalidArgument TooManyEntries."""
        register, _ = await make_register()
        response = await register({"events": ["a.b", "a.c", "a.d"]})
        assert _error(response) == (400, "invalid_argument", "Errors.Catalog.TooManyEntries")

    async def test_caps_are_per_instance(self, make_register: Any) -> None:
        """A full catalog in one instance leaves another instance's catalog free."""
        full, _ = await make_register()
        other, _ = await make_register()
        await full({"methods": _methods(3)})
        assert (await other({"methods": _methods(3)})).status_code == 200
