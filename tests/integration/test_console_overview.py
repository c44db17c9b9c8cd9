"""The console's Overview figures on SQLite and PostgreSQL: delivery health by hour, the queue (docs/console.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from callout.domain.auth import Role
from callout.domain.clock import to_micros
from callout.domain.deliveries import DeliveryState, NewDelivery
from callout.domain.targets import TargetSpec, TargetType
from callout.services import instances as admin
from callout.services import targets as target_service
from callout.services.console_overview import HEALTH_HOURS, FiguresCache, load_overview
from callout.services.context import ServiceContext
from callout.storage import deliveries as delivery_store
from callout.storage.schema import deliveries
from tests.conftest import MakePrincipal
from tests.integration.console_support import MakeConsoleClient, console_client, sign_in

__all__ = ["console_client"]

AddDelivery = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class _FixedClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


async def _instance(context: ServiceContext) -> str:
    return (await admin.create_instance(context, "overview", with_web_key=False)).id


def _adder(context: ServiceContext, instance_id: str) -> AddDelivery:
    """Factory: a delivery of the instance in a given state, attempts and times."""

    async def add(state: DeliveryState, attempts: int, updated: datetime, due: datetime | None = None) -> None:
        delivery_id = f"d-{to_micros(updated)}-{state.value}-{attempts}"
        async with context.database.transaction() as conn:
            await delivery_store.enqueue(conn, [NewDelivery(delivery_id, instance_id, "t", "event/x", b"{}")], updated)
            values = {"state": state.value, "attempts": attempts, "updated_at": to_micros(updated)}
            values["next_attempt_at"] = to_micros(due or updated)
            await conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))

    return add


class TestDeliveryHealth:
    async def test_outcomes_are_counted_in_the_current_hour(self, context: ServiceContext) -> None:
        """Succeeded, failed and retrying deliveries are counted by outcome; untried ones are not."""
        instance_id = await _instance(context)
        add, now = _adder(context, instance_id), context.clock.now()
        for state, attempts in [("succeeded", 1), ("succeeded", 2), ("failed", 12), ("pending", 3), ("pending", 0)]:
            await add(DeliveryState(state), attempts, now)
        overview = await load_overview(context, instance_id)
        assert len(overview.hours) == HEALTH_HOURS
        assert overview.hours[-1].counts == {"succeeded": 2, "failed": 1, "retrying": 1}

    async def test_delivery_late_in_an_hour_counts_in_that_hour(self, context: ServiceContext) -> None:
        """A delivery updated at 11:59:59 counts in the 11 o'clock column even when the page is loaded at 12:00:30."""
        instance_id = await _instance(context)
        late = replace(context, clock=_FixedClock(datetime(2026, 12, 3, 11, 59, 59, tzinfo=UTC)))
        await _adder(late, instance_id)(DeliveryState.SUCCEEDED, 1, late.clock.now())
        loaded = replace(context, clock=_FixedClock(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)))
        overview = await load_overview(loaded, instance_id)
        assert (overview.hours[-2].start.hour, overview.hours[-2].counts["succeeded"]) == (11, 1)

    async def test_deliveries_older_than_a_day_are_left_out(self, context: ServiceContext) -> None:
        """A delivery last updated 25 hours ago is in no hour of the chart."""
        instance_id = await _instance(context)
        await _adder(context, instance_id)(DeliveryState.FAILED, 1, context.clock.now() - timedelta(hours=25))
        overview = await load_overview(context, instance_id)
        assert sum(hour.total for hour in overview.hours) == 0

    async def test_other_instances_deliveries_are_left_out(self, context: ServiceContext) -> None:
        """Another instance's deliveries count neither in the chart nor in the queue."""
        mine, theirs = await _instance(context), await _instance(context)
        await _adder(context, theirs)(DeliveryState.SUCCEEDED, 1, context.clock.now())
        overview = await load_overview(context, mine)
        assert (sum(hour.total for hour in overview.hours), overview.queue_depth) == (0, 0)


class TestOverviewPage:
    async def test_page_draws_bars_and_lists_the_figures(
        self, context: ServiceContext, console_client: MakeConsoleClient
    ) -> None:
        """The Overview draws one bar per outcome present and lists the counts in the table."""
        instance_id = await _instance(context)
        _, token = await admin.create_token(context, instance_id, Role.IAM_OWNER)
        add, now = _adder(context, instance_id), context.clock.now()
        for attempts in (1, 2, 3):
            await add(DeliveryState.SUCCEEDED, attempts, now)
        await add(DeliveryState.FAILED, 12, now)
        client = console_client()
        await sign_in(client, token)
        page = (await client.get("/console/")).text
        assert page.count('<rect class="succeeded"') == 1
        assert page.count('<rect class="failed"') == 1
        assert f'<th scope="row">{now.strftime("%m-%d %H:00")}</th><td>3</td><td>1</td><td>0</td>' in page


class TestQueue:
    async def test_depth_and_oldest_due(self, context: ServiceContext) -> None:
        """Waiting deliveries are the depth; the oldest due is the earliest pending one already due."""
        instance_id = await _instance(context)
        add, now = _adder(context, instance_id), context.clock.now().replace(microsecond=0)
        await add(DeliveryState.PENDING, 0, now, due=now - timedelta(minutes=5))
        await add(DeliveryState.PENDING, 2, now, due=now + timedelta(minutes=5))
        await add(DeliveryState.IN_FLIGHT, 1, now, due=now - timedelta(minutes=9))
        await add(DeliveryState.SUCCEEDED, 1, now)
        overview = await load_overview(context, instance_id)
        assert overview.queue_depth == 3
        assert overview.oldest_due == now - timedelta(minutes=5)


class TestCounts:
    async def test_deleted_targets_are_not_counted(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """The Overview counts the instance's live targets; a deleted one no longer counts."""
        principal, _ = await make_principal()
        spec = TargetSpec("kept", TargetType.WEBHOOK, False, timedelta(seconds=5), "https://example.com/hook")
        await target_service.create_target(context, principal, spec)
        deleted, _ = await target_service.create_target(context, principal, replace(spec, name="deleted"))
        await target_service.delete_target(context, principal, deleted.id)
        assert (await load_overview(context, principal.instance_id)).targets == 1


class TestFiguresCache:
    async def test_figures_are_reused_within_the_ttl(self, context: ServiceContext) -> None:
        """A second Overview within the TTL shows the figures of the first, not a delivery added since."""
        instance_id = await _instance(context)
        add, cache = _adder(context, instance_id), FiguresCache(ttl=60)
        await load_overview(context, instance_id, cache)
        await add(DeliveryState.PENDING, 0, context.clock.now())
        assert (await load_overview(context, instance_id, cache)).queue_depth == 0

    async def test_figures_are_read_again_after_the_ttl(self, context: ServiceContext) -> None:
        """Once the TTL has passed the Overview reads the figures again."""
        instance_id = await _instance(context)
        add, cache = _adder(context, instance_id), FiguresCache(ttl=0)
        await load_overview(context, instance_id, cache)
        await add(DeliveryState.PENDING, 0, context.clock.now())
        assert (await load_overview(context, instance_id, cache)).queue_depth == 1
