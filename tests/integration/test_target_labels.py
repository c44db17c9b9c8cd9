"""Target labels by id and target lookup by id or name, on SQLite and PostgreSQL (services/target_labels.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callout.domain.auth import Role
from callout.domain.targets import TargetSpec, TargetType
from callout.errors import PermissionDenied
from callout.services import targets as targets_service
from callout.services.context import ServiceContext
from callout.services.target_labels import find_target, target_labels
from tests.conftest import MakePrincipal


def _spec(name: str, kind: TargetType = TargetType.WEBHOOK, interrupt: bool = False) -> TargetSpec:
    return TargetSpec(name, kind, interrupt, timedelta(seconds=5), "https://example.com/hook")


class TestTargetLabels:
    async def test_names_only_the_requested_targets(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Only the ids asked for are answered, each with its name and interrupt flag."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        first, _ = await targets_service.create_target(context, principal, _spec("first", TargetType.CALL, True))
        await targets_service.create_target(context, principal, _spec("second"))
        labels = await target_labels(context, principal, [first.id, first.id])
        assert [(label.id, label.name, label.interrupting) for label in labels.values()] == [(first.id, "first", True)]

    async def test_deleted_and_unknown_ids_are_left_out(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A deleted target's id and an id no target has are absent from the answer."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        gone, _ = await targets_service.create_target(context, principal, _spec("gone"))
        await targets_service.delete_target(context, principal, gone.id)
        assert await target_labels(context, principal, [gone.id, "no-such-id"]) == {}

    async def test_other_instances_targets_are_left_out(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Another instance's target is not named, even by its id."""
        owner, _ = await make_principal(Role.IAM_OWNER)
        stranger, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await targets_service.create_target(context, owner, _spec("private"))
        assert await target_labels(context, stranger, [target.id]) == {}

    async def test_more_ids_than_one_statement_binds_are_answered(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Ids beyond one IN list's chunk are still found."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await targets_service.create_target(context, principal, _spec("last"))
        labels = await target_labels(context, principal, [f"missing-{n}" for n in range(1200)] + [target.id])
        assert list(labels) == [target.id]

    async def test_needs_the_permission_to_read_targets(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A principal without action.target.read is PermissionDenied."""
        principal, _ = await make_principal(Role.ORG_OWNER)
        with pytest.raises(PermissionDenied):
            await target_labels(context, principal, ["any"])


class TestFindTarget:
    async def test_finds_by_id(self, context: ServiceContext, make_principal: MakePrincipal) -> None:
        """A live target's id finds it."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await targets_service.create_target(context, principal, _spec("by-id"))
        found = await find_target(context, principal, target.id)
        assert (found.name if found else None) == "by-id"

    async def test_finds_by_name_ignoring_case(self, context: ServiceContext, make_principal: MakePrincipal) -> None:
        """A live target's name in another case finds it."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await targets_service.create_target(context, principal, _spec("Paid-Hook"))
        found = await find_target(context, principal, "paid-hook")
        assert (found.id if found else None) == target.id

    async def test_deleted_target_is_not_found(self, context: ServiceContext, make_principal: MakePrincipal) -> None:
        """Neither the id nor the name of a deleted target finds it."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        target, _ = await targets_service.create_target(context, principal, _spec("deleted"))
        await targets_service.delete_target(context, principal, target.id)
        assert (await find_target(context, principal, target.id), await find_target(context, principal, "deleted")) == (
            None,
            None,
        )

    async def test_other_instances_target_is_not_found(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Another instance's target is not found by its name."""
        owner, _ = await make_principal(Role.IAM_OWNER)
        stranger, _ = await make_principal(Role.IAM_OWNER)
        await targets_service.create_target(context, owner, _spec("theirs"))
        assert await find_target(context, stranger, "theirs") is None
