"""The checks console handlers make: ``require_session`` (GET), ``require_form`` (POST), ``require_write``.

Every POST handler starts with ``signed_in, form = await require_form(request)`` (same origin, a live
session, the session's CSRF token) and, if it changes anything, ``require_write(signed_in)``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from callout.console.web import COOKIE_NAME, PageError, SignInRequired, console_state
from callout.domain.console import SignedIn, csrf_matches
from callout.services.console import find_signed_in, may_write

MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf_token"


async def require_session(request: Request) -> SignedIn:
    """The request's live session; raises ``SignInRequired`` (a 303 to the sign-in page) when there is none."""
    session_id = request.cookies.get(COOKIE_NAME)
    if not session_id:
        raise SignInRequired
    state = console_state(request)
    signed_in = await find_signed_in(state.context, state.limits, session_id)
    if signed_in is None:
        raise SignInRequired
    return signed_in


async def require_form(request: Request) -> tuple[SignedIn, dict[str, str]]:
    """For a POST: same origin, a live session and its CSRF token; returns the session and the form."""
    require_same_origin(request)
    signed_in = await require_session(request)
    form = await read_form(request)
    if not csrf_matches(request.cookies[COOKIE_NAME], form.get(CSRF_FIELD)):
        raise PageError(403, "Request refused", "The form was stale or not sent from this console. Reload and retry.")
    return signed_in, form


def require_write(signed_in: SignedIn) -> None:
    """Refuse (403) a change by a role that may only look, whatever the page showed."""
    if not may_write(signed_in.principal):
        raise PageError(403, "Not allowed", "Your token's role can view this console but not change anything.")


def require_same_origin(request: Request) -> None:
    """Refuse (403) a POST whose ``Origin`` is another site's (browsers send it with every POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # The host only: behind a TLS-terminating proxy the scheme seen here may differ from the browser's.
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(403, "Request refused", "The form was sent from another site.")


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (at most 64 KiB); one value per name, the first."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise PageError(400, "Bad request", "The console only accepts its own forms.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "Too large", "The form is larger than the console accepts.")
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form
