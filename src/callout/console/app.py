"""The console's Starlette app: routes, error pages, security headers; ``mount_console`` adds it to the API."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callout.console import deliveries, executions, overview, session_pages, targets
from callout.console.web import (
    COOKIE_NAME,
    PREFIX,
    SIGN_IN_PATH,
    STATIC_DIR,
    ConsoleState,
    PageError,
    SignInRequired,
    redirect,
    render,
    template_environment,
)
from callout.domain.console import SessionLimits
from callout.errors import CalloutError
from callout.services.context import ServiceContext

log = structlog.get_logger("callout.console")

# Each page module offers routes(); a new page adds its module here (docs/console.md, Adding a page).
PAGE_MODULES: tuple[Callable[[], list[BaseRoute]], ...] = (
    session_pages.routes,
    overview.routes,
    targets.routes,
    executions.routes,
    deliveries.routes,
)

FAILURE_MESSAGE = "The console failed to show this page. Try again in a moment."
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def mount_console(app: Starlette, context: ServiceContext, limits: SessionLimits | None = None) -> None:
    """Serve the console at ``/console/`` of ``app`` (``/console`` redirects there)."""
    app.router.routes.append(Route(PREFIX, _to_overview, methods=["GET"]))
    app.router.routes.append(Mount(PREFIX, app=console_app(context, limits or SessionLimits())))


async def _to_overview(_request: Request) -> Response:
    return redirect(f"{PREFIX}/")


def console_app(context: ServiceContext, limits: SessionLimits) -> ASGIApp:
    """The console as an ASGI app meant to be mounted at ``/console``."""
    routes: list[BaseRoute] = [Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")]
    for page_routes in PAGE_MODULES:
        routes.extend(page_routes())
    app = Starlette(routes=routes, exception_handlers=_EXCEPTION_HANDLERS)
    app.state.console = ConsoleState(context, limits, template_environment())
    return ConsoleGuard(app, app.state.console)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "error.html", status=exc.status, title=exc.title, message=exc.message)


async def _sign_in_required(_request: Request, _exc: Exception) -> Response:
    response = redirect(SIGN_IN_PATH)
    response.delete_cookie(COOKIE_NAME, path=PREFIX)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return render(request, "error.html", status=405, title="Not allowed", message="This page cannot do that.")
    return render(request, "error.html", status=404, title="Not found", message="There is no such console page.")


async def _callout_error(request: Request, exc: Exception) -> Response:
    # The services' errors are written for API clients; their message ids and details are safe to show.
    assert isinstance(exc, CalloutError)
    status = exc.kind.http_status
    return render(request, "error.html", status=status, title="Something went wrong", message=str(exc))


async def _unexpected(request: Request, _exc: Exception) -> Response:
    # Starlette still re-raises after this response; ConsoleGuard logs it and keeps it from the client.
    return render(request, "error.html", status=500, title="Something went wrong", message=FAILURE_MESSAGE)


_EXCEPTION_HANDLERS = {
    Exception: _unexpected,
    PageError: _page_error,
    SignInRequired: _sign_in_required,
    HTTPException: _http_error,
    CalloutError: _callout_error,
}


class ConsoleGuard:
    """Security headers on every console response; an unexpected failure is a friendly 500 page, logged."""

    def __init__(self, app: ASGIApp, state: ConsoleState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        is_static = scope["path"].startswith(f"{PREFIX}/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _with_security_headers(message.get("headers", []), is_static)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("console.failed", path=scope["path"])
            if not started:
                await self._failure_page(scope, receive, send_with_headers)

    async def _failure_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        html = self.state.templates.get_template("error.html").render(
            nav=(), current_path="", signed_in=None, csrf_token="", can_write=False, prefix=PREFIX,
            title="Something went wrong", message=FAILURE_MESSAGE,
        )  # fmt: skip
        await Response(html, status_code=500, media_type="text/html")(scope, receive, send)


def _with_security_headers(headers: Iterable[tuple[bytes, bytes]], is_static: bool) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() != b"cache-control"]
    # Pages may show secrets' metadata and CSRF tokens: never cached. Static files are revalidated.
    cache = b"no-cache" if is_static else b"no-store"
    return [*kept, *SECURITY_HEADERS, (b"cache-control", cache)]
