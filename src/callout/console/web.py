"""What every console page uses: the console's state, the nav, ``render`` and ``redirect``, page errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from callout.domain.console import SessionLimits, SignedIn
from callout.services.console import may_write
from callout.services.console_overview import FiguresCache
from callout.services.context import ServiceContext

PREFIX = "/console"
SIGN_IN_PATH = f"{PREFIX}/sign-in"
COOKIE_NAME = "callout_console_session"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class NavLink:
    """One entry of the navigation every signed-in page shows."""

    name: str
    path: str


# The navigation, in order (docs/console.md).
NAV = (
    NavLink("Overview", f"{PREFIX}/"),
    NavLink("Targets", f"{PREFIX}/targets"),
    NavLink("Executions", f"{PREFIX}/executions"),
    NavLink("Deliveries", f"{PREFIX}/deliveries"),
)


@dataclass(frozen=True)
class ConsoleState:
    """The services and settings the console's pages run on (``request.app.state.console``)."""

    context: ServiceContext
    limits: SessionLimits
    templates: jinja2.Environment
    figures: FiguresCache = field(default_factory=FiguresCache)


class PageError(Exception):
    """Ends a request with the friendly error page: a status, a title and a sentence for the reader."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    """No live session: the request is sent to the sign-in page (303)."""


def template_environment() -> jinja2.Environment:
    """The Jinja2 environment of the console's templates; every ``.html`` template is autoescaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
    )


def console_state(request: Request) -> ConsoleState:
    """The console's state, from the console app serving the request."""
    state: ConsoleState = request.app.state.console
    return state


def render(
    request: Request, template: str, signed_in: SignedIn | None = None, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render a page template with the layout's values: nav, the current path, CSRF token, write right."""
    layout = {
        "nav": NAV if signed_in is not None else (),
        "current_path": request.url.path,
        "signed_in": signed_in,
        "csrf_token": signed_in.csrf_token if signed_in is not None else "",
        "can_write": signed_in is not None and may_write(signed_in.principal),
        "prefix": PREFIX,
    }
    html = console_state(request).templates.get_template(template).render(**layout, **values)
    return HTMLResponse(html, status_code=status)


def redirect(path: str) -> RedirectResponse:
    """A 303 See Other: after a POST the browser loads ``path`` with a GET."""
    return RedirectResponse(path, status_code=303)
