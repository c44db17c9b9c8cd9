"""Target storage on SQLite and PostgreSQL: names, soft deletion, listing, signing keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callout.domain.auth import Role
from callout.domain.queries import Pagination, TargetQuery, TextFilter, TextFilterMethod
from callout.domain.targets import TargetSpec, TargetType
from callout.errors import AlreadyExists
from callout.services import targets as service
from callout.services.context import ServiceContext
from callout.storage.events import list_events
from tests.conftest import MakePrincipal


def _spec(name: str) -> TargetSpec:
    return TargetSpec(name, TargetType.WEBHOOK, False, timedelta(seconds=5), "https://example.com/hook")


class TestTargetNames:
    async def test_duplicate_name_differing_in_case_is_rejected(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A second target whose name differs only in case is AlreadyExists."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        await service.create_target(context, principal, _spec("Hook"))
        with pytest.raises(AlreadyExists):
            await service.create_target(context, principal, _spec("hOOK"))

    async def test_name_of_deleted_target_can_be_reused(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Deleting a target frees its name."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await service.create_target(context, principal, _spec("hook"))
        await service.delete_target(context, principal, target.id)
        again, _ = await service.create_target(context, principal, _spec("hook"))
        assert again.id != target.id

    async def test_same_name_in_two_instances_is_allowed(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Names are unique per instance only."""
        first, _ = await make_principal(Role.IAM_OWNER)
        second, _ = await make_principal(Role.IAM_OWNER)
        await service.create_target(context, first, _spec("hook"))
        target, _ = await service.create_target(context, second, _spec("hook"))
        assert target.instance_id == second.instance_id


class TestTargetListing:
    async def test_contains_filter_treats_like_wildcards_literally(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A percent sign in a CONTAINS filter matches only a literal percent sign."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        await service.create_target(context, principal, _spec("100% hook"))
        await service.create_target(context, principal, _spec("plain"))
        query = TargetQuery(name_filters=(TextFilter("%", TextFilterMethod.CONTAINS),))
        page = await service.list_targets(context, principal, query)
        assert [t.name for t in page.items] == ["100% hook"]

    async def test_offset_and_limit_page_through_targets(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Offset and limit select a window while the total counts every match."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        for index in range(5):
            await service.create_target(context, principal, _spec(f"t{index}"))
        page = await service.list_targets(context, principal, TargetQuery(Pagination(offset=1, limit=2, asc=True)))
        assert ([t.name for t in page.items], page.total, page.applied_limit) == (["t1", "t2"], 5, 2)


class TestSigningKeys:
    async def test_rotation_with_grace_keeps_both_keys_valid(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """After a rotation with a positive grace period the old and the new key both sign."""
        from callout.domain.targets import TargetChanges

        principal, _ = await make_principal(Role.IAM_OWNER)
        target, old_key = await service.create_target(context, principal, _spec("hook"))
        changes = TargetChanges(expiration_signing_key=timedelta(hours=1))
        result = await service.update_target(context, principal, target.id, changes)
        keys = await service.valid_signing_keys(context, target)
        assert keys == [result.signing_key, old_key]

    async def test_rotation_without_grace_invalidates_old_key(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A rotation with 0s leaves only the new key valid."""
        from callout.domain.targets import TargetChanges

        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await service.create_target(context, principal, _spec("hook"))
        result = await service.update_target(
            context, principal, target.id, TargetChanges(expiration_signing_key=timedelta(0))
        )
        assert await service.valid_signing_keys(context, target) == [result.signing_key]


class TestEventLog:
    async def test_each_change_appends_one_event_with_increasing_sequence(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Create, rename and delete write target.added, target.changed, target.removed in order."""
        from callout.domain.targets import TargetChanges

        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await service.create_target(context, principal, _spec("hook"))
        await service.update_target(context, principal, target.id, TargetChanges(name="renamed"))
        await service.delete_target(context, principal, target.id)
        async with context.database.read() as conn:
            events = await list_events(conn, principal.instance_id, target.id)
        assert [(e.event_type, e.sequence) for e in events] == [
            ("target.added", 1),
            ("target.changed", 2),
            ("target.removed", 3),
        ]


class TestUncountedTargetListing:
    async def test_total_passes_the_page_end_when_more_follow(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Without the count, a page with more behind it has a total one past its end, and the page's rows only."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        for index in range(5):
            await service.create_target(context, principal, _spec(f"t{index}"))
        query = TargetQuery(Pagination(offset=1, limit=2, asc=True))
        page = await service.list_targets(context, principal, query, with_total=False)
        assert ([t.name for t in page.items], page.total) == (["t1", "t2"], 4)

    async def test_total_is_the_page_end_on_the_last_page(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Without the count, the last page's total is its offset plus its rows."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        for index in range(3):
            await service.create_target(context, principal, _spec(f"t{index}"))
        query = TargetQuery(Pagination(offset=2, limit=2, asc=True))
        page = await service.list_targets(context, principal, query, with_total=False)
        assert ([t.name for t in page.items], page.total) == (["t2"], 3)
