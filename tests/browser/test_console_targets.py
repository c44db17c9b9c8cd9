"""The Targets pages in a real browser (Chromium via Playwright) against a real ``callout serve`` (docs/console.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.browser.conftest import PHONE, OpenPage, Visit, sign_in
from tests.e2e.conftest import Server

expect: Any = pytest.importorskip("playwright.sync_api").expect

T = TypeVar("T")
XSS_NAME = "<img src=x onerror=alert(1)>"
KEY = re.compile(r"^[A-Za-z0-9]{36}$")


def _off_loop(call: Callable[..., T], *args: str) -> T:
    """Run a setup step in another thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result()


def _signed_in(open_page: OpenPage, server: Server, role: str = "IAM_OWNER", instance_id: str | None = None) -> Visit:
    """A page signed in with a new token of the role (in a new instance unless given)."""
    instance = instance_id or _off_loop(server.create_instance)
    visit = open_page()
    sign_in(visit, server, _off_loop(server.create_token, instance, role)[0])
    return visit


def _create_target(visit: Visit, name: str) -> str:
    """Create a target through the New target form; returns the signing key the answer shows."""
    page = visit.page
    page.get_by_role("link", name="Targets", exact=True).click()
    page.get_by_role("link", name="New target", exact=True).click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Endpoint", exact=True).fill("https://example.com/hook")
    page.get_by_label("Timeout", exact=True).fill("5")
    page.get_by_role("button", name="Create", exact=True).click()
    key: str = page.get_by_label("Signing key", exact=True).input_value()
    return key


def _open_target(visit: Visit, name: str) -> None:
    """Go from the Targets list to the target's page by its link."""
    visit.page.get_by_role("link", name="Targets", exact=True).click()
    visit.page.get_by_role("link", name=name, exact=True).click()


def _public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


def _instance_of(server: Server) -> str:
    return _off_loop(server.create_instance)


class TestCreate:
    def test_signing_key_is_shown_exactly_once(self, console_server: Server, open_page: OpenPage) -> None:
        """Creating shows the key with a warning and a copy button; the target's page and the list never show it."""
        visit = _signed_in(open_page, console_server)
        key = _create_target(visit, "orders")
        page = visit.page
        assert KEY.match(key)
        expect(page.get_by_text("it will not be shown again")).to_be_visible()
        page.get_by_role("button", name="Copy signing key").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("Copied|Select the key"))
        page.get_by_role("link", name="Go to the target").click()
        expect(page.get_by_role("heading", name="orders", level=1)).to_be_visible()
        assert key not in page.content()
        page.get_by_role("link", name="Targets", exact=True).click()
        assert key not in page.content()

    def test_invalid_timeout_is_shown_by_the_form(self, console_server: Server, open_page: OpenPage) -> None:
        """A timeout of 0 keeps the form with the API's message in an alert and the name typed."""
        visit = _signed_in(open_page, console_server, instance_id=None)
        page = visit.page
        page.goto(f"{console_server.base_url}/console/targets/new")
        page.get_by_label("Name", exact=True).fill("too-fast")
        page.get_by_label("Endpoint", exact=True).fill("https://example.com/hook")
        page.get_by_label("Timeout", exact=True).fill("0")
        visit.expect_error(r"status of 400")
        page.get_by_role("button", name="Create", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("timeout")
        expect(page.get_by_label("Name", exact=True)).to_have_value("too-fast")

    def test_keyboard_alone_creates_a_target_on_a_phone(self, console_server: Server, open_page: OpenPage) -> None:
        """At 390 px the form fits without sideways scrolling, and Tab and Enter alone create a target."""
        instance_id = _instance_of(console_server)
        visit = open_page(PHONE)
        sign_in(visit, console_server, _off_loop(console_server.create_token, instance_id, "IAM_OWNER")[0])
        page = visit.page
        page.goto(f"{console_server.base_url}/console/targets/new")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        page.get_by_label("Name", exact=True).focus()
        page.keyboard.type("typed")
        page.keyboard.press("Tab")
        page.keyboard.type("https://example.com/typed")
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("3")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Target created")).to_be_visible()


class TestEditAndRotate:
    def test_edit_then_rotate_shows_a_new_key_once(self, console_server: Server, open_page: OpenPage) -> None:
        """Renaming through the edit form, then rotating, shows a new key different from the first."""
        visit = _signed_in(open_page, console_server)
        first_key = _create_target(visit, "before")
        page = visit.page
        _open_target(visit, "before")
        page.get_by_label("Name", exact=True).fill("after")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", name="after", level=1)).to_be_visible()
        page.get_by_label("Grace period for the old key (seconds)").fill("600")
        page.get_by_role("button", name="Rotate signing key").click()
        expect(page.get_by_role("heading", name="New signing key")).to_be_visible()
        second_key = page.get_by_label("Signing key", exact=True).input_value()
        assert KEY.match(second_key)
        assert second_key != first_key


class TestPublicKeys:
    def test_add_and_activate_a_public_key(self, console_server: Server, open_page: OpenPage) -> None:
        """A pasted RSA PEM is listed inactive, and Activate makes it active."""
        visit = _signed_in(open_page, console_server)
        _create_target(visit, "keyed")
        page = visit.page
        _open_target(visit, "keyed")
        page.get_by_label("Public key (PEM)").fill(_public_pem())
        page.get_by_role("button", name="Add public key").click()
        page.get_by_role("button", name=re.compile(r"^Activate key ")).click()
        expect(page.get_by_role("button", name=re.compile(r"^Deactivate key "))).to_be_visible()
        expect(page.get_by_role("table", name="Public keys of this target")).to_contain_text("yes")


class TestSafety:
    def test_markup_in_a_name_is_text_and_runs_nothing(self, console_server: Server, open_page: OpenPage) -> None:
        """A name like an img tag with onerror is text on its page, its delete page and the list; no dialog opens."""
        visit = _signed_in(open_page, console_server)
        dialogs: list[str] = []
        visit.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        _create_target(visit, XSS_NAME)
        _open_target(visit, XSS_NAME)
        expect(visit.page.get_by_role("heading", name=XSS_NAME, level=1)).to_be_visible()
        visit.page.get_by_role("link", name="Delete target…").click()
        expect(visit.page.get_by_role("heading", level=1)).to_contain_text(XSS_NAME)
        visit.page.get_by_role("link", name="Targets", exact=True).click()
        expect(visit.page.get_by_role("link", name=XSS_NAME, exact=True)).to_be_visible()
        assert (dialogs, visit.page.locator("img").count()) == ([], 0)

    def test_viewer_sees_no_write_controls(self, console_server: Server, open_page: OpenPage) -> None:
        """On a phone-sized screen a viewer sees the list and the target without any button but Sign out."""
        instance_id = _instance_of(console_server)
        owner = _signed_in(open_page, console_server, instance_id=instance_id)
        _create_target(owner, "watched")
        viewer = open_page(PHONE)
        sign_in(viewer, console_server, _off_loop(console_server.create_token, instance_id, "IAM_OWNER_VIEWER")[0])
        page = viewer.page
        page.get_by_role("link", name="Targets", exact=True).click()
        expect(page.get_by_role("link", name="New target")).to_have_count(0)
        page.get_by_role("link", name="watched", exact=True).click()
        expect(page.get_by_role("heading", name="watched", level=1)).to_be_visible()
        buttons = page.get_by_role("button").all_inner_texts()
        assert buttons == ["Sign out"]
        expect(page.get_by_role("textbox")).to_have_count(0)
