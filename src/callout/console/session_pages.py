"""Signing in with a personal access token, and signing out (docs/console.md, Sessions)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.console.guards import read_form, require_form, require_same_origin, require_session
from callout.console.web import COOKIE_NAME, PREFIX, SIGN_IN_PATH, SignInRequired, console_state, redirect, render
from callout.errors import PermissionDenied, Unauthenticated
from callout.services.console import sign_in, sign_out

TOKEN_FIELD = "token"  # noqa: S105 (a form field name)


def routes() -> list[BaseRoute]:
    """The sign-in page (GET shows it, POST signs in) and sign-out."""
    return [
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in_submit, methods=["POST"]),
        Route("/sign-out", sign_out_submit, methods=["POST"]),
    ]


async def sign_in_page(request: Request) -> Response:
    """The sign-in form; a browser already signed in goes to the Overview."""
    try:
        await require_session(request)
    except SignInRequired:
        return render(request, "sign_in.html", error=None)
    return redirect(f"{PREFIX}/")


async def sign_in_submit(request: Request) -> Response:
    """Check the token and start a session; a wrong token is shown as an error on the form."""
    require_same_origin(request)  # no session yet, hence no CSRF token: the Origin check stands in
    token = (await read_form(request)).get(TOKEN_FIELD, "")
    state = console_state(request)
    try:
        session_id, _ = await sign_in(state.context, state.limits, token)
    except Unauthenticated:
        return render(request, "sign_in.html", status=401, error="That token is unknown, revoked or mistyped.")
    except PermissionDenied:
        return render(request, "sign_in.html", status=403, error="That token's role cannot use the console.")
    response = redirect(f"{PREFIX}/")
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def sign_out_submit(request: Request) -> Response:
    """End the session and forget the cookie."""
    await require_form(request)
    state = console_state(request)
    await sign_out(state.context, request.cookies[COOKIE_NAME])
    response = redirect(SIGN_IN_PATH)
    response.delete_cookie(COOKIE_NAME, path=PREFIX)
    return response
