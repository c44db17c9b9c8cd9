"""Helpers for the console's HTTP-level tests: an in-process app with the console, and signing in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest

from callout.api.app import create_app
from callout.console.app import mount_console
from callout.domain.console import SessionLimits
from callout.services.context import ServiceContext

BASE_URL = "http://callout.test"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')

MakeConsoleClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def console_client(context: ServiceContext) -> AsyncIterator[MakeConsoleClient]:
    """Factory: a cookie-keeping client of an in-process API app with the console mounted."""
    clients: list[httpx.AsyncClient] = []

    def make(idle_timeout: timedelta = timedelta(minutes=30), base_url: str = BASE_URL) -> httpx.AsyncClient:
        app = create_app(context)
        mount_console(app, context, SessionLimits(idle_timeout=idle_timeout))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    """Sign in with the token and return the CSRF token the Overview page carries."""
    response = await client.post("/console/sign-in", data={"token": token})
    assert response.status_code == 303, response.text
    return csrf_of(await client.get("/console/"))


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token in a page's forms."""
    assert page.status_code == 200, page.text
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return match.group(1)
