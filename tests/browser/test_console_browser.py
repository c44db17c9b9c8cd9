"""The web console in a real browser (Chromium via Playwright) against a real ``callout serve`` (docs/console.md)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from tests.browser.conftest import PHONE, OpenPage, Visit, sign_in
from tests.e2e.conftest import Server, StartServer

expect: Any = pytest.importorskip("playwright.sync_api").expect

T = TypeVar("T")
REFUSED = r"status of 403"
XSS = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'


def _off_loop(call: Callable[..., T], *args: str) -> T:
    """Run a setup step in another thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result()


def _instance(server: Server, name: str | None = None) -> str:
    """A new instance (its id)."""
    return _off_loop(server.create_instance, *([name] if name else []))


def _token(server: Server, instance_id: str, role: str = "IAM_OWNER") -> str:
    """A new token of the instance with the role."""
    return _off_loop(server.create_token, instance_id, role)[0]


def _owner(server: Server) -> tuple[str, str]:
    """A new instance and its owner's token."""
    instance_id = _instance(server)
    return instance_id, _token(server, instance_id)


def _submit_form(visit: Visit, action: str, fields: dict[str, str]) -> None:
    """Build and submit a form from a script, as a forged request from a tampered page would."""
    visit.page.evaluate(
        """([action, fields]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = action;
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.append(input);
            }
            document.body.append(form);
            form.submit();
        }""",
        [action, fields],
    )
    visit.page.wait_for_load_state()


class TestSignIn:
    def test_owner_signs_in_and_sees_the_overview(self, console_server: Server, open_page: OpenPage) -> None:
        """Signing in with a token shows the Overview with the instance id and the four nav links."""
        instance_id, token = _owner(console_server)
        visit = open_page()
        sign_in(visit, console_server, token)
        page = visit.page
        expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
        expect(page.get_by_text(instance_id)).to_be_visible()
        for name in ("Overview", "Targets", "Executions", "Deliveries"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Disable Actions")).to_be_visible()

    def test_wrong_token_shows_an_inline_error(self, console_server: Server, open_page: OpenPage) -> None:
        """A wrong token stays on the sign-in page with an alert, not an error page."""
        visit = open_page()
        visit.expect_error(r"status of 401")
        sign_in(visit, console_server, "not-a-real-token")
        expect(visit.page.get_by_role("alert")).to_contain_text("unknown")
        expect(visit.page.get_by_label("Personal access token", exact=True)).to_be_visible()

    def test_sign_in_works_by_keyboard_alone(self, console_server: Server, open_page: OpenPage) -> None:
        """The token field has focus on load and Enter submits the form."""
        _, token = _owner(console_server)
        page = open_page().page
        page.goto(f"{console_server.base_url}/console/sign-in")
        page.keyboard.type(token)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()

    def test_sign_out_ends_the_session(self, console_server: Server, open_page: OpenPage) -> None:
        """Sign out returns to the sign-in page, and the Overview then needs a new sign-in."""
        _, token = _owner(console_server)
        visit = open_page()
        sign_in(visit, console_server, token)
        visit.page.get_by_role("button", name="Sign out").click()
        expect(visit.page.get_by_role("button", name="Sign in")).to_be_visible()
        visit.page.goto(f"{console_server.base_url}/console/")
        expect(visit.page).to_have_url(f"{console_server.base_url}/console/sign-in")

    def test_navigation_links_open_their_pages(self, console_server: Server, open_page: OpenPage) -> None:
        """Each navigation link opens the page of the same name."""
        _, token = _owner(console_server)
        visit = open_page()
        sign_in(visit, console_server, token)
        for name in ("Targets", "Executions", "Deliveries", "Overview"):
            visit.page.get_by_role("link", name=name, exact=True).click()
            expect(visit.page.get_by_role("heading", level=1)).to_have_text(name)


class TestRoles:
    def test_owner_switches_actions_off_and_on(self, console_server: Server, open_page: OpenPage) -> None:
        """The owner's switch turns Actions off, then on again."""
        _, token = _owner(console_server)
        visit = open_page()
        sign_in(visit, console_server, token)
        visit.page.get_by_role("button", name="Disable Actions").click()
        expect(visit.page.get_by_text("Actions are disabled")).to_be_visible()
        visit.page.get_by_role("button", name="Enable Actions").click()
        expect(visit.page.get_by_text("Actions are enabled")).to_be_visible()

    def test_viewer_sees_no_switch_and_a_forged_write_is_refused(
        self, console_server: Server, open_page: OpenPage
    ) -> None:
        """A viewer has no switch; posting one with the session's CSRF token gets the 403 page."""
        instance_id, _ = _owner(console_server)
        viewer_token = _token(console_server, instance_id, "IAM_OWNER_VIEWER")
        visit = open_page()
        visit.expect_error(REFUSED)
        sign_in(visit, console_server, viewer_token)
        expect(visit.page.get_by_role("button", name="Disable Actions")).to_have_count(0)
        csrf = visit.page.locator("input[name=csrf_token]").first.input_value()
        _submit_form(visit, "/console/features/actions", {"csrf_token": csrf, "enabled": "false"})
        expect(visit.page.get_by_role("heading", name="Not allowed")).to_be_visible()
        visit.page.goto(f"{console_server.base_url}/console/")
        expect(visit.page.get_by_text("Actions are enabled")).to_be_visible()

    def test_cross_site_post_without_csrf_token_is_refused(self, console_server: Server, open_page: OpenPage) -> None:
        """A form on another site posting to the console is refused 403 and changes nothing."""
        _, token = _owner(console_server)
        visit = open_page()
        visit.expect_error(REFUSED)
        sign_in(visit, console_server, token)
        attack = f'<form method="post" action="{console_server.base_url}/console/features/actions">'
        attack += '<input type="hidden" name="enabled" value="false"></form>'
        visit.page.route("http://attacker.test/", lambda route: route.fulfill(body=attack, content_type="text/html"))
        visit.page.goto("http://attacker.test/")
        visit.page.evaluate("document.forms[0].submit()")
        visit.page.wait_for_load_state()
        expect(visit.page.get_by_role("heading", name="Request refused")).to_be_visible()
        visit.page.goto(f"{console_server.base_url}/console/")
        expect(visit.page.get_by_text("Actions are enabled")).to_be_visible()


class TestSafety:
    def test_hostile_instance_name_runs_nothing(self, console_server: Server, open_page: OpenPage) -> None:
        """Markup in the instance name is shown as text: no handler or script runs."""
        instance_id = _instance(console_server, XSS)
        token = _token(console_server, instance_id)
        visit = open_page()
        sign_in(visit, console_server, token)
        expect(visit.page.locator(".instance-name")).to_have_text(XSS)
        assert visit.page.evaluate("window.__xss") is None

    def test_pages_carry_the_content_security_policy(self, console_server: Server, open_page: OpenPage) -> None:
        """The sign-in page is served with the CSP that forbids inline scripts and framing."""
        response = open_page().page.goto(f"{console_server.base_url}/console/sign-in")
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"

    def test_overview_fits_a_phone_screen(self, console_server: Server, open_page: OpenPage) -> None:
        """At 390 px wide the Overview needs no sideways scrolling and the nav stays reachable."""
        _, token = _owner(console_server)
        visit = open_page(viewport=PHONE)
        sign_in(visit, console_server, token)
        expect(visit.page.get_by_role("link", name="Deliveries", exact=True)).to_be_visible()
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


class TestExpiry:
    def test_idle_session_leads_to_the_sign_in_page(self, start_server: StartServer, open_page: OpenPage) -> None:
        """With CALLOUT_CONSOLE_IDLE_TIMEOUT=2s, a page loaded after 2.5 s idle is the sign-in page."""
        server = start_server("sqlite", env={"CALLOUT_CONSOLE_IDLE_TIMEOUT": "2s"})
        _, token = _owner(server)
        visit = open_page()
        sign_in(visit, server, token)
        expect(visit.page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
        time.sleep(2.5)
        visit.page.get_by_role("link", name="Executions", exact=True).click()
        expect(visit.page).to_have_url(f"{server.base_url}/console/sign-in")
        expect(visit.page.get_by_label("Personal access token", exact=True)).to_be_visible()

    def test_session_row_gone_idle_leads_to_the_sign_in_page(self, console_server: Server, open_page: OpenPage) -> None:
        """A session whose stored last activity is two hours old (default 30 min timeout) is over."""
        _, token = _owner(console_server)
        visit = open_page()
        sign_in(visit, console_server, token)
        with sqlite3.connect(console_server.data_dir / "callout.db") as conn:
            conn.execute("UPDATE console_sessions SET last_seen_at = last_seen_at - 7200000000")
        visit.page.reload()
        expect(visit.page).to_have_url(f"{console_server.base_url}/console/sign-in")
