"""Endpoint checks at CreateTarget/UpdateTarget: scheme, literal hosts and resolved addresses."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.delivery.egress import EgressBlocked, UnreadableURL, check_url, client_url
from callout.delivery.resolvers import StaticResolver, SystemResolver, build_resolver
from callout.domain.egress import EgressPolicy
from callout.errors import InvalidArgument
from callout.services.egress import check_endpoint
from tests.egress_forms import carried_not_global_ipv4, look_alike_spelling, not_global_ipv4

RESOLVER = StaticResolver(
    {
        "public.example": ["93.184.215.14"],
        "internal.example": ["10.0.0.7"],
        "mixed.example": ["93.184.215.14", "::1"],
        "translated.example": ["::ffff:0:a9fe:a9fe"],
        "xn--fa-hia.example": ["10.0.0.8"],
    }
)
# Spellings of loopback and internal destinations the raw-text check used to store.
TRICK_ENDPOINTS = [
    "https://１２７.０.０.１/hook",
    "https://127。0。0。1/hook",
    "https://①②⑦.0.0.1/hook",
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    "https://0177.0.0.1/hook",
    "https://0x5db8d70e/hook",
    "https://127.0.0.1./hook",
    "https://[fe80::1%25eth0]/hook",
    "https://example.com@127.0.0.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:0:127.0.0.1]/hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b:1::a9fe:a9fe]/hook",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    "https://[2002:a9fe:a9fe::1]/hook",
    "https://[fec0::1]/hook",
    "https://[3fff::1]/hook",
    "https://[5f00::1]/hook",
    "https://[100:0:0:1::1]/hook",
    "https://translated.example/hook",
    "https://faß.example/hook",
]


DEFAULT = EgressPolicy()


async def _denied(endpoint: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        await check_endpoint(DEFAULT, RESOLVER, endpoint)
    return caught.value.message_id


def _created(endpoint: str) -> bool:
    try:
        asyncio.run(check_endpoint(DEFAULT, RESOLVER, endpoint))
    except InvalidArgument:
        return False
    return True


def _sendable(endpoint: str) -> bool:
    try:
        check_url(DEFAULT, client_url(endpoint))
    except (EgressBlocked, UnreadableURL):
        return False
    return True


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

    @pytest.mark.parametrize("endpoint", TRICK_ENDPOINTS)
    async def test_spelling_the_client_reads_as_internal_is_denied(self, endpoint: str) -> None:
        """Look-alike digits, integer IPv4, trailing dots, zones, userinfo and IPv4 carriers are DeniedURL."""
        assert await _denied(endpoint) == "Errors.Target.DeniedURL"

    async def test_host_the_client_cannot_read_is_invalid_url(self) -> None:
        """A host the client cannot normalise (an invisible soft hyphen) is Errors.Target.InvalidURL."""
        assert await _denied("https://hoo\u00adks.example/hook") == "Errors.Target.InvalidURL"

    async def test_denial_names_the_table_block(self) -> None:
        """The DeniedURL message says which registry block refused the address."""
        with pytest.raises(InvalidArgument, match=r"127\.0\.0\.0/8 Loopback \(RFC 1122"):
            await check_endpoint(DEFAULT, RESOLVER, "https://１２７.０.０.１/hook")

    async def test_registry_global_anycast_address_is_accepted(self) -> None:
        """An address the registry marks globally reachable inside a reserved block (TURN anycast) is accepted."""
        await check_endpoint(DEFAULT, RESOLVER, "https://[2001:1::2]/hook")

    @settings(max_examples=50)
    @given(carried_not_global_ipv4())
    def test_carrier_of_a_non_global_ipv4_is_denied(self, carrier: ipaddress.IPv6Address) -> None:
        """Any IPv6 literal carrying a non-global IPv4 address is refused at create time."""
        assert not _created(f"https://[{carrier}]/hook")

    @settings(max_examples=50)
    @given(not_global_ipv4().flatmap(look_alike_spelling))
    def test_look_alike_spelling_of_a_non_global_address_is_denied(self, host: str) -> None:
        """A non-global IPv4 address spelt with look-alike digits and dots is refused at create time."""
        assert not _created(f"https://{host}/hook")

    @settings(max_examples=200)
    @given(st.text(st.sampled_from("0127.x:[]①１。𝟕fe8ab@%"), min_size=1, max_size=24))
    def test_create_time_accepts_only_what_connect_time_accepts(self, host: str) -> None:
        """An endpoint stored at create time passes the pre-check every send runs."""
        endpoint = f"https://{host}/hook"
        assert not _created(endpoint) or _sendable(endpoint)

    async def test_dev_mode_accepts_http_to_loopback(self) -> None:
        """In development mode http://127.0.0.1 is accepted."""
        await check_endpoint(EgressPolicy(dev_mode=True), RESOLVER, "http://127.0.0.1:9000/hook")


class TestSystemResolver:
    async def test_localhost_resolves_to_loopback(self) -> None:
        """The system resolver answers localhost from the hosts file with a loopback address."""
        addresses = await SystemResolver().resolve("localhost")
        assert addresses
        assert all(address.is_loopback for address in addresses)


class TestStaticResolver:
    async def test_pins_are_looked_up_by_the_client_form_of_the_name(self) -> None:
        """A pin written in Unicode or upper case matches the A-label, lower-case name the client resolves."""
        resolver = StaticResolver({"Faß.Example.": ["10.0.0.8"]})
        assert await resolver.resolve("xn--fa-hia.example") == [ipaddress.ip_address("10.0.0.8")]


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
