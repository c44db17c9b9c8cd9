"""The console's Executions page in a real browser against a real ``callout serve`` (docs/console.md, Executions)."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from tests.browser.conftest import ARTIFACTS, PHONE, OpenPage, Visit, sign_in
from tests.e2e.conftest import Server

expect: Any = pytest.importorskip("playwright.sync_api").expect

T = TypeVar("T")
ACTION = "/zitadel.action.v2.ActionService"
METHOD = "/example.shop.v1.OrderService/PlaceOrder"
XSS = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'


def _off_loop(call: Callable[..., T], *args: str) -> T:
    """Run a setup step in another thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result()


def _api(server: Server, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the API with the token; the call must succeed."""
    with server.http(token) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _owner_with_targets(server: Server, *names: str) -> tuple[str, list[str]]:
    """A new instance's owner token, with METHOD registered and one target per name (their ids)."""
    instance_id = _off_loop(server.create_instance)
    token = _off_loop(server.create_token, instance_id, "IAM_OWNER")[0]
    _api(server, token, "/callout.v1.DispatchService/RegisterCatalog", {"methods": [METHOD]})
    ids = []
    for name in names:
        body = {"name": name, "restWebhook": {}, "timeout": "5s", "endpoint": "https://hooks.example.com/x"}
        ids.append(str(_api(server, token, f"{ACTION}/CreateTarget", body)["id"]))
    return token, ids


def _move_up_order(visit: Visit) -> list[str]:
    """The editor's list order, read from its rows' "Move up <name>" buttons."""
    buttons = visit.page.get_by_role("button", name=re.compile(r"^Move up "))
    return [str(label).removeprefix("Move up ") for label in buttons.evaluate_all("bs => bs.map(b => b.ariaLabel)")]


def _open_editor_on_method(visit: Visit, server: Server) -> None:
    """Pick "Request: one method" and METHOD in the condition picker and open the editor."""
    page = visit.page
    page.goto(f"{server.base_url}/console/executions")
    page.get_by_label("Condition type").select_option("request:method")
    page.get_by_label("Method", exact=True).fill(METHOD)
    page.get_by_role("button", name="Edit targets").click()
    expect(page.get_by_role("heading", name=f"Execution: Method {METHOD}")).to_be_visible()


def _add(visit: Visit, name: str) -> None:
    visit.page.get_by_label("Add a target").select_option(label=name)
    visit.page.get_by_role("button", name="Add", exact=True).click()
    visit.page.wait_for_load_state()


class TestExecutionEditor:
    def test_reordered_list_is_saved_and_survives_a_reload(self, console_server: Server, open_page: OpenPage) -> None:
        """Two targets added, the second moved up and saved: a reload shows the new order."""
        token, _ = _owner_with_targets(console_server, "alpha", "beta")
        visit = open_page()
        sign_in(visit, console_server, token)
        _open_editor_on_method(visit, console_server)
        _add(visit, "alpha")
        _add(visit, "beta")
        assert _move_up_order(visit) == ["alpha", "beta"]
        visit.page.get_by_role("button", name="Move up beta").focus()
        visit.page.keyboard.press("Enter")
        expect(visit.page.get_by_text("not saved yet")).to_be_visible()
        # beta reached the top: the keyboard focus is on its other move button, not lost to the page.
        expect(visit.page.get_by_role("button", name="Move down beta")).to_be_focused()
        assert _move_up_order(visit) == ["beta", "alpha"]
        visit.page.get_by_role("button", name="Save", exact=True).click()
        expect(visit.page.get_by_role("heading", name="Executions", level=1)).to_be_visible()
        visit.page.reload()
        targets = visit.page.get_by_role("list", name=f"Targets of Method {METHOD}")
        expect(targets.get_by_role("listitem")).to_have_text(["beta", "alpha"])
        visit.page.get_by_role("link", name=f"Edit Method {METHOD}").click()
        assert _move_up_order(visit) == ["beta", "alpha"]

    def test_clear_asks_and_removes_the_execution(self, console_server: Server, open_page: OpenPage) -> None:
        """Clear execution asks for confirmation; confirming leaves no request execution."""
        token, ids = _owner_with_targets(console_server, "gamma")
        _api(console_server, token, f"{ACTION}/SetExecution",
             {"condition": {"request": {"method": METHOD}}, "targets": ids})  # fmt: skip
        visit = open_page(PHONE)
        sign_in(visit, console_server, token)
        _open_editor_on_method(visit, console_server)
        visit.page.get_by_role("button", name="Clear execution").click()
        expect(visit.page.get_by_role("heading", name="Clear this execution?")).to_be_visible()
        visit.page.get_by_role("button", name="Yes, clear it").click()
        section = visit.page.get_by_role("region", name="Requests")
        expect(section.get_by_text("None yet.")).to_be_visible()

    def test_markup_in_a_target_name_is_shown_as_text(self, console_server: Server, open_page: OpenPage) -> None:
        """A target named like markup shows as text in the list and the editor, and runs nothing."""
        token, ids = _owner_with_targets(console_server, XSS)
        _api(console_server, token, f"{ACTION}/SetExecution",
             {"condition": {"request": {"method": METHOD}}, "targets": ids})  # fmt: skip
        visit = open_page(PHONE)
        sign_in(visit, console_server, token)
        visit.page.goto(f"{console_server.base_url}/console/executions")
        expect(visit.page.get_by_role("link", name=XSS, exact=True)).to_be_visible()
        visit.page.get_by_role("link", name=f"Edit Method {METHOD}").click()
        expect(visit.page.get_by_role("button", name=f"Remove {XSS}", exact=True)).to_be_visible()
        assert visit.page.evaluate("window.__xss") is None


class TestWithoutJavaScript:
    def test_editor_works_with_scripts_off(self, console_server: Server, chromium: Any) -> None:
        """With JavaScript disabled, picking a condition, adding, moving and saving still work."""
        token, _ = _owner_with_targets(console_server, "first", "second")
        context = chromium.new_context(java_script_enabled=False)
        visit = Visit(context.new_page())
        try:
            sign_in(visit, console_server, token)
            _open_editor_on_method(visit, console_server)
            _add(visit, "first")
            _add(visit, "second")
            visit.page.get_by_role("button", name="Move down first").click()
            visit.page.get_by_role("button", name="Save", exact=True).click()
            targets = visit.page.get_by_role("list", name=f"Targets of Method {METHOD}")
            expect(targets.get_by_role("listitem")).to_have_text(["second", "first"])
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            visit.page.screenshot(path=str(ARTIFACTS / "test_editor_works_with_scripts_off-0.png"), full_page=True)
        finally:
            context.close()
