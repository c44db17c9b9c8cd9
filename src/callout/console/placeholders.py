"""Pages still to come (Targets, Executions, Deliveries): each says so; later work replaces it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.console.guards import require_session
from callout.console.web import render

COMING = {"/executions": "Executions", "/deliveries": "Deliveries"}


def routes() -> list[BaseRoute]:
    """One placeholder page per section not built yet."""
    return [Route(path, _placeholder(title), methods=["GET"]) for path, title in COMING.items()]


def _placeholder(title: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        signed_in = await require_session(request)
        return render(request, "coming.html", signed_in, title=title)

    return page
