"""Concurrent target writers on SQLite and PostgreSQL: no 5xx, no lost events, names stay unique."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callout.domain.auth import Role
from callout.domain.targets import TargetChanges, TargetSpec, TargetType
from callout.errors import AlreadyExists
from callout.services import targets as service
from callout.services.context import ServiceContext
from callout.storage.events import list_events
from tests.conftest import MakeClient, MakePrincipal
from tests.integration.concurrency_support import ACTION, BURST, Caller, new_caller, statuses


def _spec(name: str) -> TargetSpec:
    return TargetSpec(name, TargetType.CALL, True, timedelta(seconds=5), "https://example.com/hook")


def _create(name: str) -> dict[str, object]:
    return {"name": name, "restWebhook": {}, "timeout": "5s", "endpoint": "https://example.com/hook"}


async def _live_targets(caller: Caller) -> list[str]:
    answer = await caller.must(f"{ACTION}/ListTargets", {})
    return [target["name"] for target in answer.get("targets", [])]


class TestConcurrentWrites:
    async def test_parallel_updates_of_one_target_each_write_one_event(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Twenty parallel renames of one target all succeed with gap-free event sequences."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await service.create_target(context, principal, _spec("hook"))
        renames = [
            service.update_target(context, principal, target.id, TargetChanges(name=f"name-{index}"))
            for index in range(20)
        ]
        await asyncio.gather(*renames)
        async with context.database.read() as conn:
            events = await list_events(conn, principal.instance_id, target.id)
        assert [event.sequence for event in events] == list(range(1, 22))

    async def test_parallel_creates_with_one_name_store_exactly_one_target(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Of ten parallel creates with the same name one succeeds and nine are AlreadyExists."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        outcomes = await asyncio.gather(
            *[service.create_target(context, principal, _spec("same")) for _ in range(10)], return_exceptions=True
        )
        assert sorted(type(outcome).__name__ for outcome in outcomes) == ["AlreadyExists"] * 9 + ["tuple"]
        assert all(isinstance(o, (tuple, AlreadyExists)) for o in outcomes)


class TestTargetBursts:
    async def test_create_burst_with_one_name_creates_one_and_refuses_the_rest(
        self, context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Fifty CreateTarget calls with one name: one 200, forty-nine 409, one stored target."""
        caller = await new_caller(context, make_principal, make_client)
        answers = await caller.burst(f"{ACTION}/CreateTarget", [_create("same")] * BURST)
        assert (statuses(answers), await _live_targets(caller)) == ({200: 1, 409: BURST - 1}, ["same"])

    async def test_create_burst_with_distinct_names_creates_them_all(
        self, context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Fifty CreateTarget calls with distinct names all succeed and store fifty targets."""
        caller = await new_caller(context, make_principal, make_client)
        answers = await caller.burst(f"{ACTION}/CreateTarget", [_create(f"t-{n}") for n in range(BURST)])
        assert (statuses(answers), len(await _live_targets(caller))) == ({200: BURST}, BURST)

    async def test_update_burst_on_one_target_keeps_every_change_event(
        self, context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Fifty renames of one target all succeed; its events are numbered 1 to 51 without a gap."""
        caller = await new_caller(context, make_principal, make_client)
        target_id = await caller.new_target("first")
        bodies = [{"id": target_id, "name": f"name-{n}"} for n in range(BURST)]
        answers = await caller.burst(f"{ACTION}/UpdateTarget", bodies)
        assert (statuses(answers), await caller.sequences(target_id)) == ({200: BURST}, list(range(1, BURST + 2)))

    async def test_update_burst_renaming_many_targets_to_one_name_lets_one_win(
        self, context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Fifty targets renamed to one name at once: one rename succeeds, forty-nine are 409."""
        caller = await new_caller(context, make_principal, make_client)
        ids = [await caller.new_target(f"t-{n}") for n in range(BURST)]
        answers = await caller.burst(f"{ACTION}/UpdateTarget", [{"id": id_, "name": "same"} for id_ in ids])
        names = await _live_targets(caller)
        assert (statuses(answers), names.count("same")) == ({200: 1, 409: BURST - 1}, 1)

    async def test_delete_burst_on_one_target_deletes_it_once(
        self, context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Fifty deletes of one target all succeed with the first deletion's date; one removal event."""
        caller = await new_caller(context, make_principal, make_client)
        target_id = await caller.new_target()
        answers = await caller.burst(f"{ACTION}/DeleteTarget", [{"id": target_id}] * BURST)
        dates = {answer.body.get("deletionDate") for answer in answers}
        assert (statuses(answers), len(dates), await caller.sequences(target_id)) == ({200: BURST}, 1, [1, 2])
