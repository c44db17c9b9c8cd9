"""The web console over HTTP, on SQLite and PostgreSQL: sessions, CSRF, roles, headers (docs/console.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callout.console.app import ConsoleGuard, console_app
from callout.domain.auth import Role
from callout.domain.console import ConsoleSession, SessionLimits
from callout.services import instances as admin
from callout.services.context import ServiceContext
from callout.storage import console_sessions as session_store
from callout.storage.schema import console_sessions
from tests.conftest import MakePrincipal
from tests.integration.console_support import BASE_URL, MakeConsoleClient, console_client, csrf_of, sign_in

__all__ = ["console_client"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class TestSignIn:
    async def test_owner_token_signs_in_to_the_overview(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """A live owner token starts a session whose Overview names the instance."""
        principal, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        await sign_in(client, token)
        page = await client.get("/console/")
        assert principal.instance_id in page.text
        assert "Disable Actions" in page.text

    async def test_wrong_token_shows_an_error_on_the_form(self, console_client: MakeConsoleClient) -> None:
        """An unknown token re-shows the sign-in form with an error and sets no cookie."""
        client = console_client()
        response = await client.post("/console/sign-in", data={"token": "not-a-token"})
        assert response.status_code == 401
        assert 'role="alert"' in response.text
        assert "set-cookie" not in response.headers

    async def test_role_without_action_permissions_is_refused(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """An ORG_OWNER token (no action permission) gets an error on the form and no session."""
        _, token = await make_principal(Role.ORG_OWNER)
        response = await console_client().post("/console/sign-in", data={"token": token})
        assert response.status_code == 403
        assert "set-cookie" not in response.headers

    async def test_cookie_is_http_only_strict_and_scoped_to_the_console(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """The session cookie is HttpOnly, SameSite=Strict, Path=/console, and holds no token."""
        _, token = await make_principal(Role.IAM_OWNER)
        response = await console_client().post("/console/sign-in", data={"token": token})
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "path=/console" in cookie
        assert token.lower() not in cookie

    async def test_cookie_is_secure_over_https(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """Signing in over HTTPS sets a Secure cookie; over plain HTTP it is not marked Secure."""
        _, token = await make_principal(Role.IAM_OWNER)
        over_https = await console_client(base_url="https://callout.test").post(
            "/console/sign-in", data={"token": token}
        )
        over_http = await console_client().post("/console/sign-in", data={"token": token})
        assert "secure" in over_https.headers["set-cookie"].lower()
        assert "secure" not in over_http.headers["set-cookie"].lower()

    async def test_console_without_slash_redirects_to_the_overview(self, console_client: MakeConsoleClient) -> None:
        """``/console`` answers 303 to ``/console/``."""
        response = await console_client().get("/console")
        assert (response.status_code, response.headers["location"]) == (303, "/console/")

    async def test_no_session_redirects_to_sign_in(self, console_client: MakeConsoleClient) -> None:
        """A page without a session answers 303 to the sign-in page."""
        response = await console_client().get("/console/targets")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in"


class TestSessionEnds:
    async def test_revoked_token_ends_the_session(
        self, context: ServiceContext, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """Revoking the token a session was made with sends the next page to sign-in."""
        principal, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        await sign_in(client, token)
        await admin.revoke_token(context, principal.token_id)
        response = await client.get("/console/")
        assert response.headers["location"] == "/console/sign-in"

    async def test_idle_session_expires(self, console_client: MakeConsoleClient, make_principal: MakePrincipal) -> None:
        """A session idle longer than the idle timeout sends the next page to sign-in."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = console_client(idle_timeout=timedelta(seconds=1))
        await sign_in(client, token)
        await asyncio.sleep(1.1)
        response = await client.get("/console/")
        assert response.headers["location"] == "/console/sign-in"

    async def test_sign_out_deletes_the_session(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """After signing out, the old cookie no longer opens a page."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        csrf = await sign_in(client, token)
        cookie = str(client.cookies.get("callout_console_session"))
        await client.post("/console/sign-out", data={"csrf_token": csrf})
        replay = console_client()
        replay.cookies.set("callout_console_session", cookie, domain="callout.test", path="/console")
        response = await replay.get("/console/")
        assert response.headers["location"] == "/console/sign-in"


class TestWrites:
    async def test_owner_switches_actions_off(
        self, context: ServiceContext, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """An owner's POST with the CSRF token switches the Actions feature."""
        principal, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        csrf = await sign_in(client, token)
        response = await client.post("/console/features/actions", data={"csrf_token": csrf, "enabled": "false"})
        assert response.status_code == 303
        stored = {instance.id: instance for instance in await admin.list_instances(context)}
        assert stored[principal.instance_id].features == {"actions": False}

    async def test_viewer_write_is_refused(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """A viewer's POST with a valid CSRF token is refused 403 and changes nothing."""
        _, token = await make_principal(Role.IAM_OWNER_VIEWER)
        client = console_client()
        csrf = await sign_in(client, token)
        response = await client.post("/console/features/actions", data={"csrf_token": csrf, "enabled": "false"})
        assert response.status_code == 403
        assert "enabled" in (await client.get("/console/")).text

    async def test_post_without_csrf_token_is_refused(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """A POST carrying the session cookie but no CSRF token is refused 403."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        await sign_in(client, token)
        response = await client.post("/console/features/actions", data={"enabled": "false"})
        assert response.status_code == 403

    async def test_post_with_another_sessions_csrf_token_is_refused(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """A CSRF token belongs to its session: another session's is refused 403."""
        _, token = await make_principal(Role.IAM_OWNER)
        first, second = console_client(), console_client()
        foreign = await sign_in(first, token)
        await sign_in(second, token)
        response = await second.post("/console/features/actions", data={"csrf_token": foreign, "enabled": "false"})
        assert response.status_code == 403

    async def test_cross_origin_post_is_refused(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """A POST whose Origin is another site is refused 403 even with the right CSRF token."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        csrf = await sign_in(client, token)
        response = await client.post(
            "/console/sign-out", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403


class TestHeadersAndErrors:
    async def test_pages_carry_the_security_headers(self, console_client: MakeConsoleClient) -> None:
        """Every console page has the CSP, nosniff, same-origin referrers and no-store."""
        response = await console_client().get("/console/sign-in")
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"

    async def test_static_files_carry_the_security_headers(self, console_client: MakeConsoleClient) -> None:
        """The stylesheet is served from the package with the same headers."""
        response = await console_client().get("/console/static/console.css")
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CSP

    async def test_unknown_page_is_a_friendly_404(self, console_client: MakeConsoleClient) -> None:
        """An unknown console path is an HTML page saying so, with the headers."""
        response = await console_client().get("/console/no-such-page")
        assert response.status_code == 404
        assert "There is no such console page." in response.text
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_instance_name_is_escaped(self, context: ServiceContext, console_client: MakeConsoleClient) -> None:
        """A hostile instance name is shown as text, never as markup."""
        instance = await admin.create_instance(context, "<img src=x onerror=alert(1)>", with_web_key=False)
        _, token = await admin.create_token(context, instance.id, Role.IAM_OWNER)
        client = console_client()
        await sign_in(client, token)
        page = (await client.get("/console/")).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<img src=x" not in page


class TestFailures:
    async def test_database_down_is_a_friendly_page(
        self, context: ServiceContext, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """With the database gone, a page is a 503 HTML page in the layout, not a traceback."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = console_client()
        await sign_in(client, token)
        await context.database.close()
        response = await client.get("/console/")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text
        assert response.headers["content-security-policy"] == CSP

    async def test_unexpected_exception_is_a_friendly_500(self, context: ServiceContext) -> None:
        """An exception no handler expects becomes the 500 page with the security headers."""

        async def broken(_request: Request) -> Response:
            raise RuntimeError("internal detail")

        app = console_app(context, SessionLimits())
        assert isinstance(app, ConsoleGuard)
        assert isinstance(app.app, Starlette)
        app.app.router.routes.append(Route("/broken", broken))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
            response = await client.get("/broken")
        assert response.status_code == 500
        assert "internal detail" not in response.text
        assert "Something went wrong" in response.text
        assert response.headers["x-content-type-options"] == "nosniff"


class TestConcurrency:
    async def test_burst_of_sign_ins_pages_and_sign_outs_never_fails(
        self, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """Twenty browsers signing in, loading pages and signing out at once never get a 5xx."""
        _, token = await make_principal(Role.IAM_OWNER)
        statuses = await asyncio.gather(*(_one_visit(console_client(), token) for _ in range(20)))
        assert all(status < 500 for visit in statuses for status in visit)


class TestExpiredRows:
    async def test_sign_ins_delete_expired_sessions_even_at_once(
        self, context: ServiceContext, console_client: MakeConsoleClient, make_principal: MakePrincipal
    ) -> None:
        """Expired rows are deleted by sign-ins; ten concurrent sign-ins deleting them all succeed."""
        _, token = await make_principal(Role.IAM_OWNER)
        await _store_expired_sessions(context, 30)
        statuses = await asyncio.gather(*(_one_visit(console_client(), token) for _ in range(10)))
        assert all(status < 500 for visit in statuses for status in visit)
        async with context.database.read() as conn:
            left = (await conn.execute(sa.select(sa.func.count()).select_from(console_sessions))).scalar()
        assert left == 0


async def _store_expired_sessions(context: ServiceContext, count: int) -> None:
    two_days_ago = context.clock.now() - timedelta(days=2)
    async with context.database.transaction() as conn:
        for number in range(count):
            session = ConsoleSession(f"expired-{number}", "instance", "token", two_days_ago, two_days_ago)
            await session_store.insert_session(conn, session)


async def _one_visit(client: httpx.AsyncClient, token: str) -> list[int]:
    signed_in = await client.post("/console/sign-in", data={"token": token})
    page = await client.get("/console/")
    csrf = csrf_of(page)
    other = await client.get("/console/deliveries")
    signed_out = await client.post("/console/sign-out", data={"csrf_token": csrf})
    return [signed_in.status_code, page.status_code, other.status_code, signed_out.status_code]
