"""The console's Targets pages over HTTP, on SQLite and PostgreSQL (docs/console.md, Targets)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.deliveries import DeliveryQuery
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.queries import Pagination
from callout.services import deliveries as delivery_service
from callout.services import executions as execution_service
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.push import PushedEvent, push_events
from callout.testing import RecordingReceiver
from tests.integration.console_support import console_client
from tests.integration.console_targets_support import (
    SIGNING_KEY,
    MakeConsole,
    insert_many_targets,
    make_console,
    rsa_public_pem,
    target_id_in,
)

__all__ = ["console_client", "make_console"]


@pytest.fixture
async def context(context: ServiceContext) -> AsyncIterator[ServiceContext]:
    """The test context with a sender that may call a receiver on 127.0.0.1 (development egress)."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    yield replace(context, egress=policy, sender=sender)
    await sender.close()


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


class TestList:
    async def test_shows_name_type_endpoint_timeout_and_interrupt(self, make_console: MakeConsole) -> None:
        """A target's row names it and shows its type, endpoint, timeout and interrupt flag."""
        console = await make_console()
        await console.create("billing", target_type="restCall", interrupt_on_error="on", timeout="7")
        page = await console.client.get("/console/targets")
        assert page.status_code == 200
        row = page.text.split(">billing</a>")[1].split("</tr>")[0]
        cells = [cell.split(">", 1)[1].split("</td>")[0] for cell in row.split("<td")[1:]]
        assert cells == ["REST call", "https://example.com/hook", "7 s", "yes"]

    async def test_search_matches_part_of_the_name_in_any_case(self, make_console: MakeConsole) -> None:
        """Searching "BILL" lists billing-hook and not shipping-hook."""
        console = await make_console()
        await console.add_target("billing-hook")
        await console.add_target("shipping-hook")
        page = await console.client.get("/console/targets", params={"q": "BILL"})
        assert ("billing-hook" in page.text, "shipping-hook" in page.text) == (True, False)

    async def test_sorts_by_name(self, make_console: MakeConsole) -> None:
        """Sorting by name ascending lists a before b before c, whatever the creation order."""
        console = await make_console()
        for name in ("cherry", "apple", "banana"):
            await console.add_target(name)
        page = (await console.client.get("/console/targets", params={"sort": "name", "order": "asc"})).text
        assert page.index("apple") < page.index("banana") < page.index("cherry")

    async def test_paginates_fifty_a_page(self, make_console: MakeConsole) -> None:
        """With 51 targets, page 1 lists 50 and links to page 2, which lists the last one."""
        console = await make_console()
        await insert_many_targets(console.context, console.principal.instance_id, 51)
        params = {"sort": "name", "order": "asc"}
        first = await console.client.get("/console/targets", params=params)
        second = await console.client.get("/console/targets", params={**params, "page": "2"})
        assert ("bulk-00049" in first.text, "bulk-00050" in first.text, "Next page" in first.text) == (
            True,
            False,
            True,
        )
        assert ("bulk-00050" in second.text, "bulk-00049" in second.text) == (True, False)

    async def test_last_page_has_no_next_link(self, make_console: MakeConsole) -> None:
        """The page holding the last target says which rows it shows and links back but not on."""
        console = await make_console()
        await insert_many_targets(console.context, console.principal.instance_id, 51)
        last = await console.client.get("/console/targets", params={"sort": "name", "order": "asc", "page": "2"})
        assert ("Targets 51 to 51." in last.text, "Previous page" in last.text, "Next page" in last.text) == (
            True,
            True,
            False,
        )

    async def test_ten_thousand_targets_list_searched_and_sorted_fast(self, make_console: MakeConsole) -> None:
        """With 10,000 targets a searched, name-sorted page answers within a second."""
        console = await make_console()
        await insert_many_targets(console.context, console.principal.instance_id, 10_000)
        started = time.perf_counter()
        page = await console.client.get("/console/targets", params={"q": "bulk-09", "sort": "name", "page": "3"})
        elapsed = time.perf_counter() - started
        assert ("Targets 101 to 150; more follow" in page.text, "bulk-09100" in page.text, elapsed < 1.0) == (
            True,
            True,
            True,
        )


class TestCreate:
    async def test_new_target_form_has_the_labelled_fields(self, make_console: MakeConsole) -> None:
        """The New target form labels Name, Endpoint and Timeout and has a Create button."""
        console = await make_console()
        page = (await console.client.get("/console/targets/new")).text
        for label in (">Name</label>", ">Endpoint</label>", ">Timeout</label>", ">Create</button>"):
            assert label in page

    async def test_signing_key_is_shown_once_and_never_stored_in_a_page(self, make_console: MakeConsole) -> None:
        """The POST's answer shows the key with no-store; neither the list nor the target's page show it."""
        console = await make_console()
        created = await console.create("once")
        key = SIGNING_KEY.search(created.text.split('id="signing-key"')[1])
        assert key is not None
        assert (created.status_code, created.headers["cache-control"]) == (200, "no-store")
        for path in ("/console/targets", f"/console/targets/{target_id_in(created)}", "/console/"):
            assert key.group(0) not in (await console.client.get(path)).text

    async def test_blank_name_is_refused_inline_with_the_values_kept(self, make_console: MakeConsole) -> None:
        """A blank name re-shows the form with status 400, the API's message and the endpoint typed."""
        console = await make_console()
        page = await console.create("", endpoint="https://example.com/kept")
        assert page.status_code == 400
        assert 'role="alert"' in page.text
        assert "name must not be empty" in page.text
        assert 'value="https://example.com/kept"' in page.text

    async def test_bad_timeout_is_refused_inline(self, make_console: MakeConsole) -> None:
        """A timeout that is not a number of seconds is a 400 form with the API's message, not a 500."""
        console = await make_console()
        page = await console.create(timeout="soon")
        assert (page.status_code, 'role="alert"' in page.text) == (400, True)

    async def test_name_is_escaped(self, make_console: MakeConsole) -> None:
        """A name with markup is shown as text on the list."""
        console = await make_console()
        await console.add_target("<img src=x onerror=alert(1)>")
        page = (await console.client.get("/console/targets")).text
        assert ("<img src=x" in page, "&lt;img src=x onerror=alert(1)&gt;" in page) == (False, True)


class TestEdit:
    async def test_edit_changes_the_target(self, make_console: MakeConsole) -> None:
        """Saving the edit form renames the target and switches it to async."""
        console = await make_console()
        target_id, _ = await console.add_target("before")
        fields = {"name": "after", "endpoint": "https://example.com/new", "timeout": "3", "target_type": "restAsync"}
        answer = await console.post(f"/console/targets/{target_id}", **fields, payload_type="PAYLOAD_TYPE_JWT")
        target = await target_service.get_target(console.context, console.principal, target_id)
        assert answer.status_code == 303
        assert (target.name, target.endpoint, target.timeout.seconds, target.payload_type.name) == (
            "after", "https://example.com/new", 3, "JWT"
        )  # fmt: skip

    async def test_invalid_edit_is_refused_inline(self, make_console: MakeConsole) -> None:
        """An edit with a bad endpoint is a 400 page with the API's message by the edit form."""
        console = await make_console()
        target_id, _ = await console.add_target("kept")
        page = await console.post(f"/console/targets/{target_id}", name="kept", endpoint="not a url", timeout="5")
        assert (page.status_code, 'id="edit-error"' in page.text, 'value="not a url"' in page.text) == (400, True, True)


class TestRotate:
    async def test_rotation_shows_a_new_key_and_keeps_the_old_one_for_the_grace(
        self, make_console: MakeConsole
    ) -> None:
        """Rotating with a grace of an hour shows a new key once; both keys stay valid for now."""
        console = await make_console()
        target_id, old_key = await console.add_target()
        page = await console.post(f"/console/targets/{target_id}/rotate", grace="3600")
        new_key = SIGNING_KEY.search(page.text.split('id="signing-key"')[1])
        assert new_key is not None
        assert new_key.group(0) != old_key
        target = await target_service.get_target(console.context, console.principal, target_id)
        assert set(await target_service.valid_signing_keys(console.context, target)) == {old_key, new_key.group(0)}

    async def test_negative_grace_is_refused_inline(self, make_console: MakeConsole) -> None:
        """A negative grace period is a 400 page with the API's message by the rotation form."""
        console = await make_console()
        target_id, _ = await console.add_target()
        page = await console.post(f"/console/targets/{target_id}/rotate", grace="-5")
        assert (page.status_code, 'id="rotate-error"' in page.text) == (400, True)


class TestDelete:
    async def test_confirmation_names_the_executions_using_the_target(self, make_console: MakeConsole) -> None:
        """The delete page lists the event execution that calls the target."""
        console = await make_console()
        target_id, _ = await console.add_target()
        await execution_service.register_catalog(console.context, console.principal, [], [], ["order.paid"])
        condition = Condition(ConditionType.EVENT, event="order.paid")
        await execution_service.set_execution(console.context, console.principal, condition, [target_id])
        page = await console.client.get(f"/console/targets/{target_id}/delete")
        assert (page.status_code, "event: event order.paid" in page.text) == (200, True)

    async def test_delete_removes_the_target(self, make_console: MakeConsole) -> None:
        """Confirming deletes the target: its page is then a 404."""
        console = await make_console()
        target_id, _ = await console.add_target()
        answer = await console.post(f"/console/targets/{target_id}/delete")
        assert answer.status_code == 303
        assert (await console.client.get(f"/console/targets/{target_id}")).status_code == 404


class TestPublicKeys:
    async def test_add_activate_deactivate_and_remove(self, make_console: MakeConsole) -> None:
        """A pasted PEM is listed inactive, then active, then inactive, then gone."""
        console = await make_console()
        target_id, _ = await console.add_target()
        base = f"/console/targets/{target_id}"
        assert (await console.post(f"{base}/keys", public_key=rsa_public_pem(), expiration="")).status_code == 303
        page = (await console.client.get(base)).text
        key_id = page.split(f"{base}/keys/")[1].split("/")[0]
        states = []
        for verb in ("activate", "deactivate"):
            await console.post(f"{base}/keys/{key_id}/{verb}")
            states.append(f'aria-label="Deactivate key {key_id}"' in (await console.client.get(base)).text)
        await console.post(f"{base}/keys/{key_id}/remove")
        assert (states, key_id in (await console.client.get(base)).text) == ([True, False], False)

    async def test_expiry_is_shown(self, make_console: MakeConsole) -> None:
        """A key added with an expiry shows that expiry in UTC."""
        console = await make_console()
        target_id, _ = await console.add_target()
        base = f"/console/targets/{target_id}"
        await console.post(f"{base}/keys", public_key=rsa_public_pem(), expiration="2099-05-01T12:30")
        assert "2099-05-01 12:30:00 UTC" in (await console.client.get(base)).text

    async def test_not_a_key_is_refused_inline(self, make_console: MakeConsole) -> None:
        """Text that is not a PEM public key is a 400 page with the API's message by the key form."""
        console = await make_console()
        target_id, _ = await console.add_target()
        page = await console.post(f"/console/targets/{target_id}/keys", public_key="hello", expiration="")
        assert (page.status_code, 'id="key-error"' in page.text) == (400, True)


class TestRecentDeliveries:
    async def test_target_page_links_its_latest_deliveries(self, make_console: MakeConsole) -> None:
        """With 25 deliveries to the target, its page links the newest 20 to their Deliveries pages."""
        console = await make_console()
        target_id, _ = await console.add_target()
        await execution_service.register_catalog(console.context, console.principal, [], [], ["order.paid"])
        condition = Condition(ConditionType.EVENT, event="order.paid")
        await execution_service.set_execution(console.context, console.principal, condition, [target_id])
        events = [PushedEvent("order", f"o-{index}", "order.paid", {"n": index}) for index in range(25)]
        await push_events(console.context, console.principal, events)
        page = (await console.client.get(f"/console/targets/{target_id}")).text
        newest = await delivery_service.list_deliveries(
            console.context, console.principal, DeliveryQuery(pagination=Pagination(limit=20), target_id=target_id)
        )
        linked = re.findall(r'href="/console/deliveries/([^"]+)"', page)
        assert (len(linked), linked) == (20, [delivery.id for delivery in newest.items])


class TestTestEvent:
    async def test_shows_status_and_latency(self, make_console: MakeConsole, receiver: RecordingReceiver) -> None:
        """Send test event calls the receiver and shows status 200, a latency and the response head."""
        console = await make_console()
        receiver.respond(body="hello <b>from</b> receiver")
        target_id, _ = await console.add_target(endpoint=receiver.url)
        page = await console.post(f"/console/targets/{target_id}/test")
        assert (page.status_code, len(receiver.requests)) == (200, 1)
        assert "<dt>Status</dt><dd>200</dd>" in page.text
        assert "<dt>Latency</dt>" in page.text
        assert "hello &lt;b&gt;from&lt;/b&gt; receiver" in page.text

    async def test_unreachable_target_shows_the_error(self, make_console: MakeConsole) -> None:
        """A target whose port refuses connections shows "no answer" and the connection error, not a 500."""
        console = await make_console()
        target_id, _ = await console.add_target(endpoint="http://127.0.0.1:9/")
        page = await console.post(f"/console/targets/{target_id}/test")
        assert (page.status_code, "<dd>no answer</dd>" in page.text, "<dt>Error</dt>" in page.text) == (200, True, True)


class TestMissing:
    async def test_unknown_target_is_a_404_page(self, make_console: MakeConsole) -> None:
        """A target id that does not exist is the 404 page on its page, its delete page and its forms."""
        console = await make_console()
        answers = [
            await console.client.get("/console/targets/404404"),
            await console.client.get("/console/targets/404404/delete"),
            await console.post("/console/targets/404404", name="x", endpoint="https://example.com", timeout="1"),
            await console.post("/console/targets/404404/rotate", grace="1"),
            await console.post("/console/targets/404404/test"),
        ]
        assert [answer.status_code for answer in answers] == [404] * 5

    async def test_unknown_key_action_is_a_404_page(self, make_console: MakeConsole) -> None:
        """A key action other than activate, deactivate and remove is the 404 page."""
        console = await make_console()
        target_id, _ = await console.add_target()
        assert (await console.post(f"/console/targets/{target_id}/keys/k1/explode")).status_code == 404


class TestRoles:
    async def test_viewer_sees_no_write_controls(self, make_console: MakeConsole) -> None:
        """A viewer's list and target page show no New target link and no form buttons."""
        owner = await make_console()
        target_id, _ = await owner.add_target()
        viewer = await make_console(Role.IAM_OWNER_VIEWER, owner.principal.instance_id)
        listing = (await viewer.client.get("/console/targets")).text
        detail = (await viewer.client.get(f"/console/targets/{target_id}")).text
        assert "New target" not in listing
        assert [word in detail for word in ("Send test event", "Rotate", "Save", "Delete", "Add public key")] == [
            False
        ] * 5

    async def test_viewer_posts_are_refused(self, make_console: MakeConsole) -> None:
        """Every Targets form POSTed by a viewer is a 403 and changes nothing."""
        owner = await make_console()
        target_id, _ = await owner.add_target("stays")
        viewer = await make_console(Role.IAM_OWNER_VIEWER, owner.principal.instance_id)
        base = f"/console/targets/{target_id}"
        paths = ["/console/targets", base, f"{base}/rotate", f"{base}/test", f"{base}/delete", f"{base}/keys"]
        paths += [f"{base}/keys/k1/{verb}" for verb in ("activate", "deactivate", "remove")]
        statuses = [
            (await viewer.post(path, name="x", endpoint="https://example.com", timeout="1")).status_code
            for path in paths
        ]
        assert statuses == [403] * len(paths)
        assert (await target_service.get_target(owner.context, owner.principal, target_id)).name == "stays"

    async def test_post_without_csrf_token_is_refused(self, make_console: MakeConsole) -> None:
        """A create form without the CSRF token is a 403 and creates nothing."""
        console = await make_console()
        answer = await console.client.post(
            "/console/targets", data={"name": "sneaky", "endpoint": "https://example.com", "timeout": "1"}
        )
        assert answer.status_code == 403
        assert "sneaky" not in (await console.client.get("/console/targets")).text


class TestConcurrency:
    async def test_burst_of_creates_and_edits_gives_no_server_error(self, make_console: MakeConsole) -> None:
        """Twenty concurrent creates and edits from one session all answer below 500."""
        console = await make_console()
        target_id, _ = await console.add_target("edited")
        creates = [console.create(f"burst-{index}") for index in range(10)]
        edits = [
            console.post(
                f"/console/targets/{target_id}", name=f"edited-{index}", endpoint="https://example.com", timeout="2"
            )
            for index in range(10)
        ]
        answers = await asyncio.gather(*creates, *edits)
        assert [answer.status_code for answer in answers if answer.status_code >= 500] == []
