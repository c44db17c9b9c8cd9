"""Endpoint checks at CreateTarget/UpdateTarget: scheme, literal hosts and resolved addresses."""

from __future__ import annotations

import ipaddress

import pytest

from callout.delivery.resolvers import StaticResolver, SystemResolver, build_resolver
from callout.domain.egress import EgressPolicy
from callout.errors import InvalidArgument
from callout.services.egress import check_endpoint

RESOLVER = StaticResolver(
    {"public.example": ["93.184.215.14"], "internal.example": ["10.0.0.7"], "mixed.example": ["93.184.215.14", "::1"]}
)


DEFAULT = EgressPolicy()


async def _denied(endpoint: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        await check_endpoint(DEFAULT, RESOLVER, endpoint)
    return caught.value.message_id


class TestCheckEndpoint:
    async def test_name_resolving_to_global_address_is_accepted(self) -> None:
        """A name whose addresses are all global passes."""
        await check_endpoint(EgressPolicy(), RESOLVER, "https://public.example/hook")

    async def test_name_resolving_to_private_address_is_denied(self) -> None:
        """A name resolving to a private address is Errors.Target.DeniedURL."""
        assert await _denied("https://internal.example/hook") == "Errors.Target.DeniedURL"

    async def test_one_denied_address_among_several_denies(self) -> None:
        """A name is denied if any of its addresses is denied (a rebinding attacker picks one)."""
        assert await _denied("https://mixed.example/hook") == "Errors.Target.DeniedURL"

    async def test_unresolvable_name_is_accepted(self) -> None:
        """A name that does not resolve yet is accepted; connect time enforces the policy again."""
        await check_endpoint(EgressPolicy(), RESOLVER, "https://not-yet.example/hook")

    async def test_ip_literal_of_private_address_is_denied(self) -> None:
        """An IP-literal URL of a private address is denied without resolution."""
        assert await _denied("https://192.168.0.10:8443/hook") == "Errors.Target.DeniedURL"

    async def test_plain_http_is_denied_by_default(self) -> None:
        """http:// to an ordinary host is denied."""
        assert await _denied("http://public.example/hook") == "Errors.Target.DeniedURL"

    async def test_dev_mode_accepts_http_to_loopback(self) -> None:
        """In development mode http://127.0.0.1 is accepted."""
        await check_endpoint(EgressPolicy(dev_mode=True), RESOLVER, "http://127.0.0.1:9000/hook")


class TestSystemResolver:
    async def test_localhost_resolves_to_loopback(self) -> None:
        """The system resolver answers localhost from the hosts file with a loopback address."""
        addresses = await SystemResolver().resolve("localhost")
        assert addresses
        assert all(address.is_loopback for address in addresses)


class TestBuildResolver:
    async def test_static_mode_resolves_only_pins(self) -> None:
        """In static mode a pinned name resolves and localhost (not pinned) does not."""
        resolver = build_resolver({"hooks.internal": ["10.0.0.5"]}, "static")
        assert (await resolver.resolve("hooks.internal"), await resolver.resolve("localhost")) == (
            [ipaddress.ip_address("10.0.0.5")],
            None,
        )

    async def test_system_mode_consults_pins_first(self) -> None:
        """In system mode a pin overrides what the system resolver would answer."""
        resolver = build_resolver({"localhost": ["93.184.215.14"]}, "system")
        assert await resolver.resolve("localhost") == [ipaddress.ip_address("93.184.215.14")]
