"""The console's Deliveries pages over HTTP, on SQLite and PostgreSQL (docs/console.md, Deliveries)."""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime, timedelta

from callout.domain.auth import Role
from callout.domain.deliveries import DeliveryState
from tests.integration.console_deliveries_support import PAID, SHIPPED, MakeShop, dev_context, make_shop, receivers

__all__ = ["dev_context", "make_shop", "receivers"]

XSS = "</script><img src=x onerror=alert(1)>"


def _local(moment: datetime) -> str:
    """A time as a datetime-local input sends it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


class TestList:
    async def test_lists_the_instances_deliveries_newest_first(self, make_shop: MakeShop) -> None:
        """The list shows every delivery of the instance as a row, newest first, and no other instance's."""
        shop, other = await make_shop(), await make_shop()
        for each in (shop, other):
            await each.bind()
            await each.push(count=3)
        assert await shop.page_ids("/console/deliveries") == await shop.deliveries()

    async def test_state_filter(self, make_shop: MakeShop) -> None:
        """?state=failed keeps only the failed deliveries."""
        shop = await make_shop()
        await shop.bind()
        failed = await shop.failed(count=2)
        await shop.push()
        assert await shop.page_ids("/console/deliveries?state=failed") == failed

    async def test_target_filter(self, make_shop: MakeShop) -> None:
        """?target= keeps only the deliveries to that target, and the target's name is shown."""
        shop = await make_shop()
        paid = await shop.bind(PAID, name="paid-hook")
        await shop.bind(SHIPPED)
        await shop.push(PAID)
        await shop.push(SHIPPED, count=2)
        page = await shop.client.get(f"/console/deliveries?target={paid}")
        assert (page.text.count("<tr data-id="), "paid-hook" in page.text) == (1, True)

    async def test_target_filter_by_name(self, make_shop: MakeShop) -> None:
        """?target= also takes a target's name, in any case, and the filter box then shows the name."""
        shop = await make_shop()
        await shop.bind(PAID, name="paid-hook")
        await shop.bind(SHIPPED)
        await shop.push(PAID)
        await shop.push(SHIPPED, count=2)
        page = await shop.client.get("/console/deliveries?target=PAID-HOOK")
        assert (page.text.count("<tr data-id="), 'value="paid-hook"' in page.text) == (1, True)

    async def test_execution_filter(self, make_shop: MakeShop) -> None:
        """?execution= keeps only the deliveries of that execution."""
        shop = await make_shop()
        await shop.bind(PAID)
        await shop.bind(SHIPPED)
        await shop.push(PAID, count=2)
        await shop.push(SHIPPED)
        assert len(await shop.page_ids("/console/deliveries?execution=event/order.shipped")) == 1

    async def test_time_filters(self, make_shop: MakeShop) -> None:
        """since keeps deliveries created from then on, until those created before then."""
        shop = await make_shop()
        await shop.bind()
        await shop.push(count=2)
        past, future = _local(datetime.now(UTC) - timedelta(hours=1)), _local(datetime.now(UTC) + timedelta(hours=1))
        counts = [
            len(await shop.page_ids(f"/console/deliveries?{query}"))
            for query in (f"since={past}", f"since={future}", f"until={past}", f"since={past}&until={future}")
        ]
        assert counts == [2, 0, 0, 2]

    async def test_pages_of_fifty(self, make_shop: MakeShop) -> None:
        """51 deliveries make two pages: 50 rows, then the oldest one with a link back to the newer page."""
        shop = await make_shop()
        await shop.bind()
        await shop.push(count=51)
        first, second = await shop.page_ids("/console/deliveries"), await shop.page_ids("/console/deliveries?page=2")
        assert (len(first), second) == (50, [(await shop.deliveries())[-1]])

    async def test_older_link_only_while_older_deliveries_follow(self, make_shop: MakeShop) -> None:
        """With 51 deliveries page 1 links to older ones and page 2, the last, does not."""
        shop = await make_shop()
        await shop.bind()
        await shop.push(count=51)
        first, second = (
            await shop.client.get("/console/deliveries"),
            await shop.client.get("/console/deliveries?page=2"),
        )
        assert ('rel="next"' in first.text, 'rel="next"' in second.text, 'rel="prev"' in second.text) == (
            True,
            False,
            True,
        )

    async def test_full_last_page_has_no_older_link(self, make_shop: MakeShop) -> None:
        """Exactly 50 deliveries fill one page that says which rows it shows and offers no older page."""
        shop = await make_shop()
        await shop.bind()
        await shop.push(count=50)
        page = await shop.client.get("/console/deliveries")
        assert ('rel="next"' in page.text, "Deliveries 1 to 50." in page.text) == (False, True)

    async def test_viewer_sees_no_bulk_redelivery(self, make_shop: MakeShop) -> None:
        """A viewer's list has the filters but not the Redeliver failed form."""
        owner = await make_shop()
        viewer = await make_shop(Role.IAM_OWNER_VIEWER, owner.principal.instance_id)
        owners_page, viewers_page = (
            await owner.client.get("/console/deliveries"),
            await viewer.client.get("/console/deliveries"),
        )
        assert ("Count them" in owners_page.text, "Count them" in viewers_page.text) == (True, False)

    async def test_malformed_filter_is_a_400_page(self, make_shop: MakeShop) -> None:
        """A malformed time or an unknown state is a 400 page that says what is wrong."""
        shop = await make_shop()
        bad_time = await shop.client.get("/console/deliveries?since=yesterday")
        bad_state = await shop.client.get("/console/deliveries?state=lost")
        assert (bad_time.status_code, bad_state.status_code) == (400, 400)
        assert "2026-01-31T13:45" in bad_time.text


class TestNewRows:
    async def test_returns_only_deliveries_after_the_cursor(self, make_shop: MakeShop) -> None:
        """The rows endpoint returns the deliveries created after the page's cursor, and a new cursor."""
        shop = await make_shop()
        await shop.bind()
        await shop.push()
        page = await shop.client.get("/console/deliveries")
        after = html.unescape(page.text.split('data-after="')[1].split('"')[0])
        await shop.push(count=2)
        answer = (await shop.client.get("/console/deliveries/rows", params={"after": after})).json()
        newest = await shop.deliveries()
        assert [row["id"] for row in answer["rows"]] == newest[1::-1]
        again = (await shop.client.get("/console/deliveries/rows", params={"after": answer["after"]})).json()
        assert again["rows"] == []

    async def test_keeps_the_pages_filters(self, make_shop: MakeShop) -> None:
        """New rows follow the page's filters: a failed-only page gets no new pending delivery."""
        shop = await make_shop()
        await shop.bind()
        await shop.push()
        answer = await shop.client.get(
            "/console/deliveries/rows", params={"after": "2000-01-01T00:00:00Z ", "state": "failed"}
        )
        assert answer.json()["rows"] == []

    async def test_requires_a_session(self, make_shop: MakeShop) -> None:
        """Without a session cookie the rows endpoint sends the browser to the sign-in page."""
        shop = await make_shop()
        shop.client.cookies.clear()
        answer = await shop.client.get("/console/deliveries/rows", params={"after": "2000-01-01T00:00:00Z "})
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")

    async def test_malformed_cursor_is_a_400(self, make_shop: MakeShop) -> None:
        """A cursor that is not a time is refused with 400, not a failure."""
        shop = await make_shop()
        answer = await shop.client.get("/console/deliveries/rows", params={"after": "yesterday"})
        assert (answer.status_code, answer.json()) == (400, {"error": "The after cursor is malformed."})


class TestDetail:
    async def test_shows_the_attempts_and_the_indented_payload(self, make_shop: MakeShop) -> None:
        """A failed delivery's page shows each attempt's status and the JSON payload indented."""
        shop = await make_shop()
        await shop.bind()
        [failed] = await shop.failed()
        page = await shop.client.get(f"/console/deliveries/{failed}")
        assert page.status_code == 200
        assert "<strong>Attempt 1</strong>" in page.text
        assert "<dt>Status</dt><dd>400</dd>" in page.text
        assert "\n  &#34;event_type&#34;: &#34;order.paid&#34;," in page.text

    async def test_escapes_a_hostile_payload(self, make_shop: MakeShop) -> None:
        """A payload with </script> and an <img onerror> is shown as text, never as markup."""
        shop = await make_shop()
        await shop.bind()
        await shop.push(payload={"note": XSS})
        [delivery_id] = await shop.deliveries()
        page = await shop.client.get(f"/console/deliveries/{delivery_id}")
        assert XSS not in page.text
        assert html.escape(XSS, quote=False) in page.text

    async def test_pending_delivery_shows_its_next_attempt_and_no_redeliver(self, make_shop: MakeShop) -> None:
        """A queued delivery shows when it is next tried and offers no Redeliver button."""
        shop = await make_shop()
        await shop.bind()
        await shop.push()
        [delivery_id] = await shop.deliveries()
        page = await shop.client.get(f"/console/deliveries/{delivery_id}")
        assert "Not tried yet" in page.text
        assert "Redeliver</button>" not in page.text
        assert "none: the delivery is finished" not in page.text

    async def test_unknown_delivery_is_a_404_page(self, make_shop: MakeShop) -> None:
        """An unknown id (or another instance's) is a 404 page."""
        shop = await make_shop()
        assert (await shop.client.get("/console/deliveries/nope")).status_code == 404


class TestRedeliver:
    async def test_queues_a_failed_delivery_again(self, make_shop: MakeShop) -> None:
        """Redeliver makes a failed delivery pending again and says so on its page."""
        shop = await make_shop()
        await shop.bind()
        [failed] = await shop.failed()
        path = f"/console/deliveries/{failed}"
        answer = await shop.client.post(f"{path}/redeliver", data={"csrf_token": shop.csrf})
        assert (answer.status_code, answer.headers["location"]) == (303, f"{path}?redelivered=1")
        assert await shop.deliveries(DeliveryState.PENDING) == [failed]

    async def test_viewer_is_refused(self, make_shop: MakeShop) -> None:
        """A viewer sees no Redeliver button and its POST is refused with 403."""
        owner = await make_shop()
        await owner.bind()
        [failed] = await owner.failed()
        viewer = await make_shop(Role.IAM_OWNER_VIEWER, owner.principal.instance_id)
        page = await viewer.client.get(f"/console/deliveries/{failed}")
        answer = await viewer.client.post(f"/console/deliveries/{failed}/redeliver", data={"csrf_token": viewer.csrf})
        assert ("Redeliver</button>" in page.text, answer.status_code) == (False, 403)
        assert await owner.deliveries(DeliveryState.FAILED) == [failed]

    async def test_post_without_csrf_is_refused(self, make_shop: MakeShop) -> None:
        """A redelivery POST without the CSRF token is refused with 403 and changes nothing."""
        shop = await make_shop()
        await shop.bind()
        [failed] = await shop.failed()
        answer = await shop.client.post(f"/console/deliveries/{failed}/redeliver", data={"note": "no token"})
        assert answer.status_code == 403
        assert await shop.deliveries(DeliveryState.FAILED) == [failed]

    async def test_queued_delivery_is_refused_inline(self, make_shop: MakeShop) -> None:
        """Redelivering a delivery still queued shows a 409 with the reason on its page."""
        shop = await make_shop()
        await shop.bind()
        await shop.push()
        [pending] = await shop.deliveries()
        answer = await shop.client.post(f"/console/deliveries/{pending}/redeliver", data={"csrf_token": shop.csrf})
        assert (answer.status_code, 'role="alert"' in answer.text) == (409, True)

    async def test_concurrent_redelivers_give_no_server_error(self, make_shop: MakeShop) -> None:
        """A burst of concurrent Redeliver POSTs on several deliveries answers 303 or 409, never 5xx."""
        shop = await make_shop()
        await shop.bind()
        failed = await shop.failed(count=3)
        posts = [
            shop.client.post(f"/console/deliveries/{delivery_id}/redeliver", data={"csrf_token": shop.csrf})
            for delivery_id in failed * 4
        ]
        statuses = [answer.status_code for answer in await asyncio.gather(*posts)]
        assert set(statuses) <= {303, 409}
        assert statuses.count(303) == 3
        assert sorted(await shop.deliveries(DeliveryState.PENDING)) == sorted(failed)


class TestRedeliverFailed:
    async def test_confirmation_counts_the_failed_deliveries_since(self, make_shop: MakeShop) -> None:
        """The first step shows how many failed deliveries were created since the time, and a button."""
        shop = await make_shop()
        await shop.bind()
        await shop.failed(count=2)
        since = _local(datetime.now(UTC) - timedelta(hours=1))
        page = await shop.client.get("/console/deliveries/redeliver-failed", params={"since": since})
        assert "<strong>2</strong> failed deliveries" in page.text
        assert "Redeliver 2 failed deliveries</button>" in page.text

    async def test_redelivers_and_says_how_many(self, make_shop: MakeShop) -> None:
        """Confirming requeues the failed deliveries and the list says how many."""
        shop = await make_shop()
        await shop.bind()
        failed = await shop.failed(count=2)
        since = _local(datetime.now(UTC) - timedelta(hours=1))
        answer = await shop.client.post(
            "/console/deliveries/redeliver-failed", data={"csrf_token": shop.csrf, "since": since}
        )
        assert answer.headers["location"] == "/console/deliveries?requeued=2"
        assert "2 failed deliveries were queued again" in (await shop.client.get(answer.headers["location"])).text
        assert sorted(await shop.deliveries(DeliveryState.PENDING)) == sorted(failed)

    async def test_viewer_sees_the_count_but_cannot_confirm(self, make_shop: MakeShop) -> None:
        """A viewer gets the count without a button, and a viewer's POST is refused with 403."""
        owner = await make_shop()
        await owner.bind()
        await owner.failed()
        viewer = await make_shop(Role.IAM_OWNER_VIEWER, owner.principal.instance_id)
        since = _local(datetime.now(UTC) - timedelta(hours=1))
        page = await viewer.client.get("/console/deliveries/redeliver-failed", params={"since": since})
        answer = await viewer.client.post(
            "/console/deliveries/redeliver-failed", data={"csrf_token": viewer.csrf, "since": since}
        )
        assert ("Redeliver 1 failed delivery</button>" in page.text, answer.status_code) == (False, 403)

    async def test_missing_time_is_a_400(self, make_shop: MakeShop) -> None:
        """Confirming without a time is refused with 400."""
        shop = await make_shop()
        answer = await shop.client.post("/console/deliveries/redeliver-failed", data={"csrf_token": shop.csrf})
        assert answer.status_code == 400
