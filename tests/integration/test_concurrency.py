"""Concurrent writers on SQLite and PostgreSQL: no lost events, no 500s, names stay unique."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callout.domain.auth import Role
from callout.domain.targets import TargetChanges, TargetSpec, TargetType
from callout.errors import AlreadyExists
from callout.services import targets as service
from callout.services.context import ServiceContext
from callout.storage.events import list_events
from tests.conftest import MakePrincipal


def _spec(name: str) -> TargetSpec:
    return TargetSpec(name, TargetType.CALL, True, timedelta(seconds=5), "https://example.com/hook")


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
