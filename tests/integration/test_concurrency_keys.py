"""Concurrent public-key writers on SQLite and PostgreSQL: no 5xx and never two active keys on a target."""

from __future__ import annotations

import pytest

from callout.services.context import ServiceContext
from tests.conftest import MakeClient, MakePrincipal
from tests.integration.concurrency_support import ACTION, BURST, Caller, new_caller, public_key, statuses


async def _keys(caller: Caller, target_id: str) -> dict[str, bool]:
    answer = await caller.must(f"{ACTION}/ListPublicKeys", {"targetId": target_id})
    return {key["keyId"]: bool(key.get("active")) for key in answer.get("publicKeys", [])}


@pytest.fixture
async def keyed_target(
    context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient
) -> tuple[Caller, str, list[str]]:
    """A caller, one of their targets and five inactive keys of it."""
    caller = await new_caller(context, make_principal, make_client)
    target_id = await caller.new_target()
    return caller, target_id, [await caller.new_key(target_id) for _ in range(5)]


class TestPublicKeyBursts:
    async def test_add_burst_stores_every_key_and_event(self, keyed_target: tuple[Caller, str, list[str]]) -> None:
        """Fifty AddPublicKey calls on one target all succeed: fifty-five keys, gap-free target events."""
        caller, target_id, _ = keyed_target
        bodies = [{"targetId": target_id, "publicKey": public_key()} for _ in range(BURST)]
        answers = await caller.burst(f"{ACTION}/AddPublicKey", bodies)
        events = list(range(1, 1 + 1 + 5 + BURST))  # created, five keys, the burst
        assert (statuses(answers), len(await _keys(caller, target_id))) == ({200: BURST}, 5 + BURST)
        assert await caller.sequences(target_id) == events

    async def test_activate_burst_over_five_keys_leaves_exactly_one_active(
        self, keyed_target: tuple[Caller, str, list[str]]
    ) -> None:
        """A hundred activations spread over five keys all succeed and leave exactly one key active."""
        caller, target_id, key_ids = keyed_target
        bodies = [{"targetId": target_id, "keyId": key_ids[n % 5]} for n in range(2 * BURST)]
        answers = await caller.burst(f"{ACTION}/ActivatePublicKey", bodies)
        active = [key_id for key_id, is_active in (await _keys(caller, target_id)).items() if is_active]
        assert (statuses(answers), len(active)) == ({200: 2 * BURST}, 1)

    async def test_activate_and_deactivate_burst_leaves_at_most_one_active(
        self, keyed_target: tuple[Caller, str, list[str]]
    ) -> None:
        """Activations and deactivations of five keys interleaved: all succeed, never two keys active."""
        caller, target_id, key_ids = keyed_target
        rpcs = ["ActivatePublicKey", "DeactivatePublicKey"]
        calls = [(f"{ACTION}/{rpcs[n % 2]}", {"targetId": target_id, "keyId": key_ids[n % 5]}) for n in range(BURST)]
        answers = await caller.mixed_burst(calls)
        active = [key_id for key_id, is_active in (await _keys(caller, target_id)).items() if is_active]
        assert (statuses(answers), len(active) <= 1) == ({200: BURST}, True)

    async def test_deactivate_burst_on_the_active_key_deactivates_it(
        self, keyed_target: tuple[Caller, str, list[str]]
    ) -> None:
        """Fifty deactivations of the active key all succeed and leave no key active."""
        caller, target_id, key_ids = keyed_target
        await caller.must(f"{ACTION}/ActivatePublicKey", {"targetId": target_id, "keyId": key_ids[0]})
        body = {"targetId": target_id, "keyId": key_ids[0]}
        answers = await caller.burst(f"{ACTION}/DeactivatePublicKey", [body] * BURST)
        assert (statuses(answers), any((await _keys(caller, target_id)).values())) == ({200: BURST}, False)

    async def test_remove_burst_removes_each_key_once(self, keyed_target: tuple[Caller, str, list[str]]) -> None:
        """Fifty removals over five inactive keys all succeed, remove all five and record five removals."""
        caller, target_id, key_ids = keyed_target
        bodies = [{"targetId": target_id, "keyId": key_ids[n % 5]} for n in range(BURST)]
        answers = await caller.burst(f"{ACTION}/RemovePublicKey", bodies)
        assert (statuses(answers), await _keys(caller, target_id)) == ({200: BURST}, {})
        assert await caller.sequences(target_id) == list(range(1, 1 + 5 + 5 + 1))

    async def test_remove_racing_activation_never_removes_the_active_key(
        self, keyed_target: tuple[Caller, str, list[str]]
    ) -> None:
        """Removals racing activations answer 200 or 400 (key active, or gone); at most one key ends active."""
        caller, target_id, key_ids = keyed_target
        rpcs = ["ActivatePublicKey", "RemovePublicKey"]
        calls = [(f"{ACTION}/{rpcs[n % 2]}", {"targetId": target_id, "keyId": key_ids[n % 5]}) for n in range(BURST)]
        answers = await caller.mixed_burst(calls)
        left = await _keys(caller, target_id)
        assert (set(statuses(answers)) <= {200, 400}, sum(left.values()) <= 1) == (True, True)
