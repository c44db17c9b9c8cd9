"""Delivery queue statements on SQLite and PostgreSQL: recording attempt outcomes, listing without a count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callout.domain.deliveries import Attempt, Delivery, DeliveryQuery, DeliveryState, NewDelivery
from callout.domain.queries import Page, Pagination
from callout.services.context import ServiceContext
from callout.storage import deliveries as store

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def _claimed(context: ServiceContext, count: int) -> list[Delivery]:
    """Enqueue ``count`` deliveries and claim them all."""
    new = [NewDelivery(f"d-{n}", "instance-1", "target-1", "event/x", b"{}") for n in range(count)]
    async with context.database.transaction() as conn:
        await store.enqueue(conn, new, NOW)
    async with context.database.transaction() as conn:
        return await store.claim_due(conn, NOW, LEASE, count)


def _outcome(delivery: Delivery, state: DeliveryState, status: int | None, error: str | None) -> store.Outcome:
    attempt = Attempt(delivery.id, 1, NOW, timedelta(milliseconds=12), status, error, "HTTP 200" if status else None)
    return store.Outcome(
        delivery, attempt, state, NOW + timedelta(minutes=1) if state is DeliveryState.PENDING else None
    )


class TestRecordOutcomes:
    async def test_every_attempt_is_logged_with_its_fields(self, context: ServiceContext) -> None:
        """Each outcome of a batch logs its attempt: status, latency, error and head, nulls included."""
        first, second = await _claimed(context, 2)
        outcomes = [
            _outcome(first, DeliveryState.SUCCEEDED, 200, None),
            _outcome(second, DeliveryState.PENDING, None, "connection refused"),
        ]
        async with context.database.transaction() as conn:
            await store.record_outcomes(conn, outcomes)
            logged = [await store.list_attempts(conn, delivery.id) for delivery in (first, second)]
        assert logged == [[outcomes[0].attempt], [outcomes[1].attempt]]

    async def test_deliveries_move_on_to_their_new_state(self, context: ServiceContext) -> None:
        """Recorded deliveries leave their lease with the new state, attempt count, status and due time."""
        done, retry = await _claimed(context, 2)
        outcomes = [
            _outcome(done, DeliveryState.SUCCEEDED, 200, None),
            _outcome(retry, DeliveryState.PENDING, 503, "x"),
        ]
        async with context.database.transaction() as conn:
            await store.record_outcomes(conn, outcomes)
            stored = [await store.find_delivery(conn, "instance-1", delivery.id) for delivery in (done, retry)]
        assert [
            (d.state, d.attempts, d.lease_until, d.last_status, d.last_error, d.next_attempt_at) for d in stored if d
        ] == [
            (DeliveryState.SUCCEEDED, 1, None, 200, None, done.next_attempt_at),
            (DeliveryState.PENDING, 1, None, 503, "x", NOW + timedelta(minutes=1)),
        ]

    async def test_large_batch_is_recorded_whole(self, context: ServiceContext) -> None:
        """A batch of 250 outcomes leaves no delivery in flight."""
        claimed = await _claimed(context, 250)
        async with context.database.transaction() as conn:
            await store.record_outcomes(conn, [_outcome(d, DeliveryState.SUCCEEDED, 204, None) for d in claimed])
            stored = [await store.find_delivery(conn, "instance-1", d.id) for d in claimed]
        assert {d.state for d in stored if d} == {DeliveryState.SUCCEEDED}

    async def test_later_outcome_of_the_same_delivery_wins(self, context: ServiceContext) -> None:
        """Two outcomes of one delivery in a batch: both attempts are logged, the later one sets the state."""
        (delivery,) = await _claimed(context, 1)
        outcomes = [
            _outcome(delivery, DeliveryState.PENDING, 503, "x"),
            _outcome(delivery, DeliveryState.SUCCEEDED, 200, None),
        ]
        async with context.database.transaction() as conn:
            await store.record_outcomes(conn, outcomes)
            stored = await store.find_delivery(conn, "instance-1", delivery.id)
            logged = await store.list_attempts(conn, delivery.id)
        assert (stored and stored.state, len(logged)) == (DeliveryState.SUCCEEDED, 2)


async def _enqueued(context: ServiceContext, count: int) -> None:
    new = [NewDelivery(f"d-{n}", "instance-1", "target-1", "event/x", b"{}") for n in range(count)]
    async with context.database.transaction() as conn:
        await store.enqueue(conn, new, NOW)


async def _uncounted_page(context: ServiceContext, offset: int, limit: int) -> Page[Delivery]:
    query = DeliveryQuery(pagination=Pagination(offset=offset, limit=limit))
    async with context.database.read() as conn:
        return await store.list_deliveries(conn, "instance-1", query, with_total=False)


class TestUncountedListing:
    async def test_total_passes_the_page_end_when_more_follow(self, context: ServiceContext) -> None:
        """Without the count, a page with more behind it has a total one past its end, and the page's rows only."""
        await _enqueued(context, 5)
        page = await _uncounted_page(context, 1, 2)
        assert (len(page.items), page.total) == (2, 4)

    async def test_total_is_the_page_end_on_the_last_page(self, context: ServiceContext) -> None:
        """Without the count, the last page's total is its offset plus its rows."""
        await _enqueued(context, 5)
        page = await _uncounted_page(context, 3, 2)
        assert (len(page.items), page.total) == (2, 5)

    async def test_same_rows_as_the_counted_listing(self, context: ServiceContext) -> None:
        """Skipping the count changes neither the rows nor their order."""
        await _enqueued(context, 4)
        query = DeliveryQuery(pagination=Pagination(offset=1, limit=2))
        async with context.database.read() as conn:
            counted = await store.list_deliveries(conn, "instance-1", query)
        assert (await _uncounted_page(context, 1, 2)).items == counted.items
