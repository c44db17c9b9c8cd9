"""The per-instance router cache: every change applies to the very next lookup.

Each lookup authenticates the token afresh and passes the routing version the principal carries,
exactly as a real request does; so these tests see what the next request after a change would see.

See docs/behaviour.md, Executions and conditions; ZITADEL #12185.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from callout.domain.auth import Principal, Role
from callout.domain.executions import Condition, ConditionType
from callout.domain.targets import Target, TargetChanges, TargetSpec, TargetType
from callout.engine.router import RoutedTarget, Router
from callout.services.auth import authenticate
from callout.services.context import ServiceContext
from callout.services.executions import register_catalog, set_execution
from callout.services.routing import RouterCache
from callout.services.targets import create_target, delete_target, update_target
from tests.conftest import MakePrincipal

PREUSERINFO = Condition(ConditionType.FUNCTION, name="preuserinfo")
EVENT_ALL = Condition(ConditionType.EVENT, all=True)
HOST_METHOD = "/acme.shop.v1.OrderService/PlaceOrder"


class Caller:
    """An IAM_OWNER of one instance: its principal for changes and its token for fresh lookups."""

    def __init__(self, principal: Principal, token: str) -> None:
        self.principal = principal
        self.token = token

    @property
    def instance_id(self) -> str:
        """The caller's instance."""
        return self.principal.instance_id


MakeCaller = Callable[[], Awaitable[Caller]]
MakeTarget = Callable[..., Awaitable[tuple[Target, str]]]
Route = Callable[[Caller], Awaitable[Router]]


@pytest.fixture
def cache(context: ServiceContext) -> RouterCache:
    """A fresh router cache over the test database."""
    return RouterCache(context)


@pytest.fixture
def make_caller(make_principal: MakePrincipal) -> MakeCaller:
    """Factory: an IAM_OWNER of a new instance."""

    async def make() -> Caller:
        return Caller(*await make_principal(Role.IAM_OWNER))

    return make


@pytest.fixture
async def caller(make_caller: MakeCaller) -> Caller:
    """An IAM_OWNER of a fresh instance."""
    return await make_caller()


@pytest.fixture
def make_target(context: ServiceContext) -> MakeTarget:
    """Factory: a new webhook target of the caller's instance and its signing key."""

    async def make(owner: Caller, endpoint: str = "https://example.com") -> tuple[Target, str]:
        spec = TargetSpec(f"t-{secrets.token_hex(4)}", TargetType.WEBHOOK, False, timedelta(seconds=5), endpoint)
        return await create_target(context, owner.principal, spec)

    return make


@pytest.fixture
def route(context: ServiceContext, cache: RouterCache) -> Route:
    """Factory: the router a request of the caller made now would use (fresh authentication, its version)."""

    async def lookup(owner: Caller) -> Router:
        principal = await authenticate(context, f"Bearer {owner.token}")
        return await cache.router_for(principal.instance_id, principal.routing_version)

    return lookup


def target_ids(chain: tuple[RoutedTarget, ...]) -> list[str]:
    """The target ids of a resolved chain, in call order."""
    return [routed.target.id for routed in chain]


class TestChangesApplyToTheNextLookup:
    async def test_fresh_execution_applies_to_the_next_lookup(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """An execution set after the router was cached applies to the very next lookup."""
        target, _ = await make_target(caller)
        assert (await route(caller)).best_match("function/preuserinfo") == ()
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        assert target_ids((await route(caller)).best_match("function/preuserinfo")) == [target.id]

    async def test_set_execution_bumps_the_routing_version(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget
    ) -> None:
        """A new execution raises the routing version the next authentication carries."""
        target, _ = await make_target(caller)
        before = (await authenticate(context, f"Bearer {caller.token}")).routing_version
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        assert (await authenticate(context, f"Bearer {caller.token}")).routing_version > before

    async def test_more_specific_execution_takes_over_at_once(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """A method execution added next to a cached `request` execution wins on the next lookup."""
        await register_catalog(context, caller.principal, methods=[HOST_METHOD], functions=[], events=[])
        general, specific = await make_target(caller), await make_target(caller)
        await set_execution(context, caller.principal, Condition(ConditionType.REQUEST, all=True), [general[0].id])
        assert target_ids((await route(caller)).best_match(f"request{HOST_METHOD}")) == [general[0].id]
        method = Condition(ConditionType.REQUEST, method=HOST_METHOD)
        await set_execution(context, caller.principal, method, [specific[0].id])
        assert target_ids((await route(caller)).best_match(f"request{HOST_METHOD}")) == [specific[0].id]

    async def test_removed_execution_stops_applying(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """After an empty SetExecution the next lookup falls back to a less specific execution."""
        specific, general = await make_target(caller), await make_target(caller)
        await set_execution(context, caller.principal, Condition(ConditionType.EVENT, group="target"), [specific[0].id])
        await set_execution(context, caller.principal, EVENT_ALL, [general[0].id])
        assert target_ids((await route(caller)).best_match("event/target.added")) == [specific[0].id]
        await set_execution(context, caller.principal, Condition(ConditionType.EVENT, group="target"), [])
        assert target_ids((await route(caller)).best_match("event/target.added")) == [general[0].id]

    async def test_deleted_target_leaves_the_chain(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """Deleting a target removes it from the cached chain on the next lookup."""
        first, second = await make_target(caller), await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [first[0].id, second[0].id])
        assert target_ids((await route(caller)).best_match("function/preuserinfo")) == [first[0].id, second[0].id]
        await delete_target(context, caller.principal, first[0].id)
        assert target_ids((await route(caller)).best_match("function/preuserinfo")) == [second[0].id]

    async def test_execution_emptied_by_deletion_falls_back(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """When a deletion empties an execution, the next lookup uses the less specific one."""
        only, general = await make_target(caller), await make_target(caller)
        await set_execution(
            context, caller.principal, Condition(ConditionType.EVENT, event="target.added"), [only[0].id]
        )
        await set_execution(context, caller.principal, EVENT_ALL, [general[0].id])
        assert target_ids((await route(caller)).best_match("event/target.added")) == [only[0].id]
        await delete_target(context, caller.principal, only[0].id)
        assert target_ids((await route(caller)).best_match("event/target.added")) == [general[0].id]

    async def test_updated_target_settings_are_visible(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """A changed endpoint and timeout are what the next lookup's routed target carries."""
        target, _ = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        await route(caller)
        changes = TargetChanges(endpoint="https://changed.example.com/hook", timeout=timedelta(seconds=9))
        await update_target(context, caller.principal, target.id, changes)
        (routed,) = (await route(caller)).best_match("function/preuserinfo")
        assert (routed.target.endpoint, routed.target.timeout) == (
            "https://changed.example.com/hook",
            timedelta(seconds=9),
        )

    async def test_rotated_key_replaces_the_old_one(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """After a rotation without grace the next lookup signs with the new key only."""
        target, old_key = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        (before,) = (await route(caller)).best_match("function/preuserinfo")
        rotated = await update_target(
            context, caller.principal, target.id, TargetChanges(expiration_signing_key=timedelta(0))
        )
        (after,) = (await route(caller)).best_match("function/preuserinfo")
        secrets_before = [key.secret for key in before.signing_keys]
        secrets_after = [key.secret for key in after.signing_keys]
        assert (secrets_before, secrets_after) == ([old_key], [rotated.signing_key])

    async def test_rotation_with_grace_keeps_both_keys(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """After a rotation with a grace period the next lookup carries the new key first, then the old one."""
        target, old_key = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        await route(caller)
        grace = TargetChanges(expiration_signing_key=timedelta(hours=1))
        rotated = await update_target(context, caller.principal, target.id, grace)
        (routed,) = (await route(caller)).best_match("function/preuserinfo")
        assert [key.secret for key in routed.signing_keys] == [rotated.signing_key, old_key]
        assert [key.expires_at is None for key in routed.signing_keys] == [True, False]


class TestCaching:
    async def test_unchanged_version_reuses_the_router(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """Two lookups without a change in between get the identical router object."""
        target, _ = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        assert await route(caller) is await route(caller)

    async def test_change_builds_a_new_router(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """A change makes the next lookup build a new router with the new version."""
        target, _ = await make_target(caller)
        first = await route(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        second = await route(caller)
        assert (second is not first, second.version > first.version) == (True, True)

    async def test_no_op_set_execution_keeps_the_router(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, route: Route
    ) -> None:
        """Setting the identical targets again does not invalidate the cached router."""
        target, _ = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        cached = await route(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        assert await route(caller) is cached

    async def test_older_version_does_not_downgrade(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, cache: RouterCache, route: Route
    ) -> None:
        """A lookup carrying an older version than the cached router still gets the newer router."""
        target, _ = await make_target(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        newest = await route(caller)
        assert await cache.router_for(caller.instance_id, 0) is newest

    async def test_lookup_without_version_reads_the_current_one(
        self, context: ServiceContext, caller: Caller, make_target: MakeTarget, cache: RouterCache, route: Route
    ) -> None:
        """Without a version the cache reads the instance's current version and sees the latest change."""
        target, _ = await make_target(caller)
        await route(caller)
        await set_execution(context, caller.principal, PREUSERINFO, [target.id])
        router = await cache.router_for(caller.instance_id)
        assert target_ids(router.best_match("function/preuserinfo")) == [target.id]


class TestInstances:
    async def test_instances_do_not_share_routers(
        self, context: ServiceContext, make_caller: MakeCaller, make_target: MakeTarget, route: Route
    ) -> None:
        """Each instance gets its own router with only its own executions."""
        first, second = await make_caller(), await make_caller()
        mine, _ = await make_target(first)
        await set_execution(context, first.principal, PREUSERINFO, [mine.id])
        routers = [await route(first), await route(second)]
        assert routers[0] is not routers[1]
        chains = [target_ids(router.best_match("function/preuserinfo")) for router in routers]
        assert chains == [[mine.id], []]

    async def test_change_in_another_instance_keeps_the_router(
        self, context: ServiceContext, make_caller: MakeCaller, make_target: MakeTarget, route: Route
    ) -> None:
        """A change in one instance leaves another instance's cached router in place."""
        first, second = await make_caller(), await make_caller()
        cached = await route(first)
        theirs, _ = await make_target(second)
        await set_execution(context, second.principal, PREUSERINFO, [theirs.id])
        assert await route(first) is cached
