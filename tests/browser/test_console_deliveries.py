"""The console's Deliveries pages in Chromium against a real ``callout serve --dev`` (docs/console.md, Deliveries).

Each test gets its own instance with an event execution bound to a ``RecordingReceiver`` on 127.0.0.1
(``--dev`` allows loopback targets); events are pushed over the Dispatch API and the server's own
worker delivers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from callout.testing import RecordingReceiver
from tests.browser.conftest import PHONE, OpenPage, Visit, sign_in
from tests.e2e.conftest import Server, StartServer, post_ok

expect: Any = pytest.importorskip("playwright.sync_api").expect

T = TypeVar("T")
ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
XSS = '</script><img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'
LIVE_TIMEOUT_MS = 15_000


def _off_loop(call: Callable[..., T], *args: str) -> T:
    """Run a setup step in another thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result()


@dataclass
class Shop:
    """An instance of the server with an owner's token and an event execution bound to a receiver."""

    server: Server
    token: str
    receiver: RecordingReceiver

    def push(self, payload: dict[str, Any] | None = None) -> None:
        """Push one ``order.paid`` event over the Dispatch API."""
        event = {"aggregateType": "order", "aggregateId": "o-1", "eventType": "order.paid", "payload": payload or {}}
        with self.server.http(self.token) as client:
            post_ok(client, f"{DISPATCH}/PushEvents", {"events": [event]})

    def deliveries_page(self) -> str:
        """The URL of the Deliveries list."""
        return f"{self.server.base_url}/console/deliveries"


MakeShop = Callable[..., Shop]


@pytest.fixture(scope="module")
def dev_server(start_server: StartServer) -> Server:
    """One ``callout serve --dev`` on SQLite (loopback targets allowed) for the module."""
    return start_server("sqlite", extra_args=("--dev",))


@pytest.fixture
def make_shop(dev_server: Server) -> Iterator[MakeShop]:
    """Factory: a new instance whose ``order.paid`` events go to a new receiver answering ``status``."""
    receivers: list[RecordingReceiver] = []

    def make(status: int = 200, target_name: str = "orders-hook", *, bind: bool = True) -> Shop:
        receiver = RecordingReceiver().__enter__()
        receivers.append(receiver)
        receiver.respond(status=status)
        instance_id = _off_loop(dev_server.create_instance)
        token = _off_loop(dev_server.create_token, instance_id)[0]
        target = {"name": target_name, "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        with dev_server.http(token) as client:
            target_id = post_ok(client, f"{ACTION}/CreateTarget", target)["id"]
            post_ok(client, f"{DISPATCH}/RegisterCatalog", {"events": ["order.paid"]})
            if bind:
                execution = {"condition": {"event": {"event": "order.paid"}}, "targets": [target_id]}
                post_ok(client, f"{ACTION}/SetExecution", execution)
        return Shop(dev_server, token, receiver)

    yield make
    for receiver in receivers:
        receiver.__exit__(None, None, None)


def _open_when(visit: Visit, url: str, role: str, text: str) -> None:
    """Load ``url`` until an element of ``role`` reads ``text`` (the server's worker finishes within moments)."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    found = visit.page.get_by_role(role, name=text, exact=True)
    while True:
        visit.page.goto(url)
        if found.count() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(found.first).to_be_visible()


class TestLiveList:
    def test_a_pushed_event_appears_opens_and_is_redelivered(self, make_shop: MakeShop, open_page: OpenPage) -> None:
        """A delivery appears in the open list without a reload, opens, and Redeliver queues it again."""
        shop = make_shop()
        visit = open_page()
        sign_in(visit, shop.server, shop.token)
        page = visit.page
        page.get_by_role("link", name="Deliveries", exact=True).click()
        expect(page.get_by_text("No deliveries match.")).to_be_visible()
        page.evaluate("window.__sameDocument = true")
        shop.push()
        expect(page.get_by_role("status")).to_have_text("1 new delivery added at the top.", timeout=LIVE_TIMEOUT_MS)
        assert page.evaluate("window.__sameDocument") is True
        expect(page.get_by_role("cell", name="orders-hook")).to_be_visible()
        page.get_by_role("table").get_by_role("link").first.click()
        expect(page.get_by_role("heading", name="Attempts")).to_be_visible()
        _open_when(visit, page.url, "button", "Redeliver")
        page.get_by_role("button", name="Redeliver", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("The delivery was queued again.")
        shop.receiver.wait_for(2, timeout=LIVE_TIMEOUT_MS / 1000)

    def test_execution_set_in_the_console_delivers_and_redelivers(
        self, make_shop: MakeShop, open_page: OpenPage
    ) -> None:
        """An event execution set on the Executions page delivers a pushed event, which the list shows and
        Redeliver sends again."""
        shop = make_shop(bind=False)
        visit = open_page()
        sign_in(visit, shop.server, shop.token)
        page = visit.page
        page.get_by_role("link", name="Executions", exact=True).click()
        page.get_by_label("Condition type").select_option("event:event")
        page.get_by_label("Event type", exact=True).fill("order.paid")
        page.get_by_role("button", name="Edit targets").click()
        page.get_by_label("Add a target").select_option(label="orders-hook")
        page.get_by_role("button", name="Add", exact=True).click()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", name="Executions", level=1)).to_be_visible()
        page.get_by_role("link", name="Deliveries", exact=True).click()
        shop.push()
        expect(page.get_by_role("cell", name="orders-hook")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        shop.receiver.wait_for(1, timeout=LIVE_TIMEOUT_MS / 1000)
        page.get_by_role("table").get_by_role("link").first.click()
        _open_when(visit, page.url, "button", "Redeliver")
        page.get_by_role("button", name="Redeliver", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("The delivery was queued again.")
        shop.receiver.wait_for(2, timeout=LIVE_TIMEOUT_MS / 1000)

    def test_list_fits_a_phone_screen(self, make_shop: MakeShop, open_page: OpenPage) -> None:
        """At 390 px the list page needs no sideways scrolling of the page (the table scrolls in its box)."""
        shop = make_shop()
        shop.push()
        visit = open_page(viewport=PHONE)
        sign_in(visit, shop.server, shop.token)
        visit.page.goto(shop.deliveries_page())
        expect(visit.page.get_by_label("State")).to_be_visible()
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


class TestRedeliverFailed:
    def test_counts_then_redelivers_the_failed_deliveries(self, make_shop: MakeShop, open_page: OpenPage) -> None:
        """The bulk form counts the failed deliveries since a time, then requeues them on confirmation."""
        shop = make_shop(status=400)
        shop.push()
        visit = open_page()
        sign_in(visit, shop.server, shop.token)
        _open_when(visit, f"{shop.deliveries_page()}?state=failed", "cell", "failed")
        since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        visit.page.get_by_label("Failed deliveries created since (UTC)").fill(since)
        visit.page.get_by_role("button", name="Count them").click()
        expect(visit.page.get_by_role("status")).to_contain_text("1 failed delivery was created since")
        visit.page.get_by_role("button", name="Redeliver 1 failed delivery").click()
        expect(visit.page.get_by_role("status").first).to_have_text("1 failed delivery was queued again.")


class TestSafety:
    def test_hostile_payload_runs_nothing(self, make_shop: MakeShop, open_page: OpenPage) -> None:
        """Markup in a payload and a target name is text, in the live row and the detail: nothing runs."""
        shop = make_shop(target_name=XSS)
        visit = open_page()
        dialogs: list[str] = []
        visit.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        sign_in(visit, shop.server, shop.token)
        visit.page.goto(shop.deliveries_page())
        shop.push({"note": XSS})
        expect(visit.page.get_by_role("cell", name=XSS, exact=True)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        visit.page.get_by_role("table").get_by_role("link").first.click()
        expect(visit.page.locator("pre.payload").last).to_contain_text("</script><img src=x onerror=")
        assert (visit.page.evaluate("window.__xss"), dialogs) == (None, [])
