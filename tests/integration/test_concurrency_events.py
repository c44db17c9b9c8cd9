"""Concurrent pushes, executions, catalog registrations and redeliveries on SQLite and PostgreSQL.

Every burst answers without a 5xx; events are stored once each (once per idempotency key) with
gap-free sequences per aggregate; an execution ends with exactly one of the submitted target lists.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
import sqlalchemy as sa

from callout.services.context import ServiceContext
from callout.storage.schema import deliveries
from tests.conftest import MakeClient, MakePrincipal
from tests.integration.concurrency_support import (
    ACTION,
    BURST,
    DELIVERY,
    DISPATCH,
    EVENT_TYPE,
    Caller,
    event,
    new_caller,
    statuses,
)

CONDITION = {"event": {"event": EVENT_TYPE}}


@pytest.fixture
async def caller(context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient) -> Caller:
    """An owner of a fresh instance that declared the event type."""
    return await new_caller(context, make_principal, make_client)


async def _failed_deliveries(caller: Caller, count: int) -> None:
    """``count`` deliveries of pushed events to a new target, marked failed as a worker would leave them."""
    target_id = await caller.new_target()
    await caller.must(f"{ACTION}/SetExecution", {"condition": CONDITION, "targets": [target_id]})
    await caller.must(f"{DISPATCH}/PushEvents", {"events": [event(f"o-{n}") for n in range(count)]})
    async with caller.context.database.transaction() as conn:
        await conn.execute(deliveries.update().values(state="failed"))


async def _delivery_states(caller: Caller) -> Counter[str]:
    async with caller.context.database.read() as conn:
        return Counter((await conn.execute(sa.select(deliveries.c.state))).scalars())


class TestPushBursts:
    async def test_push_burst_on_one_aggregate_numbers_every_event_once(self, caller: Caller) -> None:
        """A hundred single-event pushes on one aggregate: all succeed, sequences 1 to 100 without a gap."""
        answers = await caller.burst(f"{DISPATCH}/PushEvents", [{"events": [event("o-1")]}] * (2 * BURST))
        assert (statuses(answers), await caller.sequences("o-1")) == ({200: 2 * BURST}, list(range(1, 2 * BURST + 1)))

    async def test_push_burst_over_shared_aggregates_in_any_order_keeps_sequences_gap_free(
        self, caller: Caller
    ) -> None:
        """Fifty pushes of twenty events over ten shared aggregates, each in its own order: every aggregate 1..100."""
        shuffled = [random.sample(range(10), 10) * 2 for _ in range(BURST)]
        bodies = [{"events": [event(f"o-{n}") for n in order]} for order in shuffled]
        answers = await caller.burst(f"{DISPATCH}/PushEvents", bodies)
        sequences = {tuple(await caller.sequences(f"o-{n}")) for n in range(10)}
        assert (statuses(answers), sequences) == ({200: BURST}, {tuple(range(1, 2 * BURST + 1))})

    async def test_push_burst_with_one_new_idempotency_key_stores_one_event(self, caller: Caller) -> None:
        """A hundred pushes with one new idempotency key all answer the one stored event."""
        body = {"events": [event("o-1", idempotencyKey="once")]}
        answers = await caller.burst(f"{DISPATCH}/PushEvents", [body] * (2 * BURST))
        ids = {answer.body["events"][0]["id"] for answer in answers}
        assert (statuses(answers), len(ids), await caller.sequences("o-1")) == ({200: 2 * BURST}, 1, [1])

    async def test_register_catalog_burst_stores_each_name_once(self, caller: Caller) -> None:
        """Fifty overlapping RegisterCatalog calls all succeed; the catalog lists each event type once."""
        bodies = [{"events": [f"shop.e{n % 7}", f"shop.e{(n + 1) % 7}"]} for n in range(BURST)]
        answers = await caller.burst(f"{DISPATCH}/RegisterCatalog", bodies)
        async with caller.context.database.read() as conn:
            names = (await conn.execute(sa.text("SELECT name FROM catalog_entries WHERE kind = 'event'"))).scalars()
            registered = sorted(names)
        expected = sorted([EVENT_TYPE, *(f"shop.e{n}" for n in range(7))])
        assert (statuses(answers), registered) == ({200: BURST}, expected)


class TestExecutionBursts:
    async def test_set_execution_burst_leaves_one_of_the_submitted_lists(self, caller: Caller) -> None:
        """A hundred SetExecution calls on one condition: all succeed, one execution with a submitted list."""
        targets = [await caller.new_target() for _ in range(4)]
        lists = [targets[: 1 + n % 4] for n in range(2 * BURST)]
        answers = await caller.burst(f"{ACTION}/SetExecution", [{"condition": CONDITION, "targets": t} for t in lists])
        executions = (await caller.must(f"{ACTION}/ListExecutions", {})).get("executions", [])
        assert (statuses(answers), len(executions)) == ({200: 2 * BURST}, 1)
        assert executions[0]["targets"] in lists

    async def test_set_and_clear_burst_leaves_the_execution_whole_or_gone(self, caller: Caller) -> None:
        """Sets and clears of one condition interleaved: all succeed; at most one execution, with a submitted list."""
        targets = [await caller.new_target() for _ in range(3)]
        lists = [[] if n % 3 == 0 else targets[: n % 3 + 1] for n in range(BURST)]
        answers = await caller.burst(f"{ACTION}/SetExecution", [{"condition": CONDITION, "targets": t} for t in lists])
        executions = (await caller.must(f"{ACTION}/ListExecutions", {})).get("executions", [])
        assert (statuses(answers), len(executions) <= 1) == ({200: BURST}, True)
        assert all(execution["targets"] in lists for execution in executions)

    async def test_set_execution_racing_target_deletion_never_binds_a_deleted_target(self, caller: Caller) -> None:
        """SetExecution calls racing deletes of their targets: 200 or 404, and no execution lists a deleted target."""
        targets = [await caller.new_target() for _ in range(5)]
        sets = [(f"{ACTION}/SetExecution", {"condition": CONDITION, "targets": [targets[n % 5]]}) for n in range(BURST)]
        deletes = [(f"{ACTION}/DeleteTarget", {"id": target_id}) for target_id in targets[:4]]
        answers = await caller.mixed_burst(sets[:25] + deletes + sets[25:])
        executions = (await caller.must(f"{ACTION}/ListExecutions", {})).get("executions", [])
        bound = {target_id for execution in executions for target_id in execution["targets"]}
        assert (set(statuses(answers)) <= {200, 404}, bound <= {targets[4]}) == (True, True)


class TestRedeliveryBursts:
    async def test_redeliver_burst_on_one_delivery_queues_it_once(self, caller: Caller) -> None:
        """Fifty RedeliverDelivery calls on one failed delivery: one 200, the rest 404, one pending delivery."""
        await _failed_deliveries(caller, 1)
        listed = await caller.must(f"{DELIVERY}/ListDeliveries", {})
        delivery_id = listed["deliveries"][0]["id"]
        answers = await caller.burst(f"{DELIVERY}/RedeliverDelivery", [{"id": delivery_id}] * BURST)
        assert (statuses(answers), await _delivery_states(caller)) == ({200: 1, 404: BURST - 1}, {"pending": 1})

    async def test_redeliver_failed_burst_queues_each_failed_delivery_once(self, caller: Caller) -> None:
        """Fifty RedeliverFailed calls over thirty failed deliveries: counts add up to thirty, all pending."""
        await _failed_deliveries(caller, 30)
        answers = await caller.burst(f"{DELIVERY}/RedeliverFailed", [{"since": "2000-01-01T00:00:00Z"}] * BURST)
        counts = sum(int(answer.body.get("count", 0)) for answer in answers)
        assert (statuses(answers), counts, await _delivery_states(caller)) == ({200: BURST}, 30, {"pending": 30})
