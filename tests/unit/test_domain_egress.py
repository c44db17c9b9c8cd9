"""The egress policy: which addresses and hosts a target may point at, in every spelling."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from callout.domain.egress import (
    EgressPolicy,
    HostVerdict,
    InvalidHost,
    embedded_ipv4s,
    normalise_host,
    parse_ip,
    unwrap_mapped,
)
from tests.egress_forms import carried_not_global_ipv4, carriers, look_alike_spelling, not_global_ipv4

DEFAULT = EgressPolicy()
DEV = EgressPolicy(dev_mode=True)
CARRIERS_ALLOWED = EgressPolicy.from_entries(
    allow=["::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2002::/16"]
)

# Spellings of non-global destinations that must never pass the default policy.
DENIED_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "017700000001",
    "0",
    "0.0.0.0",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "[::1]",
    "::1",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[::ffff:0:127.0.0.1]",
    "[::ffff:0:a00:1]",
    "[::127.0.0.1]",
    "[64:ff9b:1::7f00:1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
    "[fec0::1]",
    "[3fff::1]",
    "[5f00::1]",
    "[100:0:0:1::1]",
    "１２７.０.０.１",
    "127。0。0。1",
    "①②⑦.0.0.1",
    "localhost",
    "LOCALHOST.",
    "api.localhost",
]


class TestNormaliseHost:
    @pytest.mark.parametrize("host", ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "127．0｡0.𝟏", "127.0.0.1."])
    def test_look_alike_spellings_become_the_ascii_address(self, host: str) -> None:
        """Fullwidth and circled digits and ideographic dots map (UTS 46) to the ASCII address the client uses."""
        assert normalise_host(host) == "127.0.0.1"

    def test_names_are_lower_cased_and_lose_the_trailing_dot(self) -> None:
        """ASCII names are lower-cased and a trailing dot is dropped."""
        assert normalise_host("Hooks.Example.COM.") == "hooks.example.com"

    def test_unicode_name_becomes_its_punycode_form(self) -> None:
        """A Unicode name becomes the A-label form the client resolves (non-transitional UTS 46)."""
        assert normalise_host("Faß.de") == "xn--fa-hia.de"

    def test_host_with_no_idna_form_is_invalid(self) -> None:
        """A host IDNA cannot map raises InvalidHost."""
        with pytest.raises(InvalidHost):
            normalise_host("☃.example")

    def test_host_with_no_idna_form_is_denied(self) -> None:
        """The policy denies a host it cannot normalise instead of guessing."""
        assert DEFAULT.host_verdict("☃.example") is HostVerdict.DENIED

    @given(st.text(st.sampled_from("aZ09.-ß①１。．ｆΩ𝟕"), max_size=20))
    def test_normalisation_is_idempotent(self, host: str) -> None:
        """Normalising a normalised host changes nothing."""
        try:
            once = normalise_host(host)
        except InvalidHost:
            reject()
        assert normalise_host(once) == once

    @given(not_global_ipv4().flatmap(look_alike_spelling))
    def test_look_alike_spelling_of_a_non_global_address_is_denied(self, host: str) -> None:
        """Any spelling of a non-global IPv4 address with look-alike digits and dots is denied."""
        assert DEFAULT.host_verdict(host) is HostVerdict.DENIED


class TestEmbeddedIpv4s:
    @pytest.mark.parametrize(
        ("address", "inner"),
        [
            ("::ffff:0:7f00:1", "127.0.0.1"),
            ("::7f00:1", "127.0.0.1"),
            ("64:ff9b::7f00:1", "127.0.0.1"),
            ("2002:7f00:1::1", "127.0.0.1"),
            ("2001:0:a00:1::1", "10.0.0.1"),
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
            ("64:ff9b:1:a00:0:100::", "10.0.0.1"),
            ("64:ff9b:1::7f00:1", "127.0.0.1"),
        ],
    )
    def test_each_form_yields_the_ipv4_address_it_carries(self, address: str, inner: str) -> None:
        """Translated, compatible, NAT64 (both prefixes), 6to4 and Teredo addresses yield their IPv4 address."""
        assert ipaddress.IPv4Address(inner) in embedded_ipv4s(ipaddress.IPv6Address(address))

    @pytest.mark.parametrize("address", ["::", "::1", "2606:2800:220:1::1", "fe80::1"])
    def test_other_addresses_carry_nothing(self, address: str) -> None:
        """The unspecified and loopback addresses and ordinary IPv6 addresses carry no IPv4 address."""
        assert embedded_ipv4s(ipaddress.IPv6Address(address)) == ()

    @given(st.ip_addresses(v=4).flatmap(lambda inner: st.tuples(st.just(inner), carriers(inner))))
    def test_every_carrier_yields_its_ipv4_address(
        self, pair: tuple[ipaddress.IPv4Address, ipaddress.IPv6Address]
    ) -> None:
        """Whatever form wraps an IPv4 address, the policy sees that address (mapped ones are unwrapped)."""
        inner, carrier = pair
        assert inner == unwrap_mapped(carrier) or inner in embedded_ipv4s(carrier)


class TestCarriedAddresses:
    @given(carried_not_global_ipv4())
    def test_carried_non_global_address_is_denied(self, carrier: ipaddress.IPv6Address) -> None:
        """A non-global IPv4 address in any IPv6 form that carries it is denied, as address and as literal."""
        assert (DEFAULT.address_allowed(carrier), DEFAULT.host_verdict(f"[{carrier}]")) == (False, HostVerdict.DENIED)

    @given(carried_not_global_ipv4())
    def test_allow_listing_the_carrier_prefix_does_not_admit_what_it_carries(
        self, carrier: ipaddress.IPv6Address
    ) -> None:
        """Allow-listing every translation prefix still leaves the carried non-global IPv4 address denied."""
        assert not CARRIERS_ALLOWED.address_allowed(carrier)


class TestParseIp:
    @pytest.mark.parametrize(
        ("spelling", "address"),
        [
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("[::ffff:a00:1]", "10.0.0.1"),
        ],
    )
    def test_resolver_spellings_are_normalised(self, spelling: str, address: str) -> None:
        """Decimal, hex, octal and IPv4-mapped spellings read as the address a resolver would use."""
        assert parse_ip(spelling) == ipaddress.ip_address(address)

    @pytest.mark.parametrize("name", ["example.com", "deadbeef.example", "face", "a.b"])
    def test_host_names_are_not_addresses(self, name: str) -> None:
        """Host names, even ones made of hex letters, are not IP literals."""
        assert parse_ip(name) is None


class TestDefaultPolicy:
    @pytest.mark.parametrize("host", DENIED_HOSTS)
    def test_non_global_destination_is_denied(self, host: str) -> None:
        """Every spelling of a loopback, private, link-local, reserved or multicast address is denied."""
        assert DEFAULT.host_verdict(host) is HostVerdict.DENIED

    @pytest.mark.parametrize("host", ["93.184.215.14", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]", "1.1.1.1"])
    def test_global_address_is_allowed(self, host: str) -> None:
        """Globally routable literals are allowed."""
        assert DEFAULT.host_verdict(host) is HostVerdict.ALLOWED

    def test_host_name_needs_resolution(self) -> None:
        """A host name is judged by the addresses it resolves to."""
        assert DEFAULT.host_verdict("hooks.example.com") is HostVerdict.RESOLVE

    def test_plain_http_is_not_allowed(self) -> None:
        """Plain http needs dev mode or an allow-listed host."""
        assert not DEFAULT.plain_http_allowed("example.com")

    @pytest.mark.parametrize(
        "address",
        ["64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:a00:1::", "::7f00:1", "::a00:1", "::ffff:0:a9fe:a9fe"],
    )
    def test_ipv6_tunnelling_a_private_ipv4_is_denied(self, address: str) -> None:
        """NAT64, 6to4, IPv4-compatible and IPv4-translated addresses wrapping a private IPv4 address are denied."""
        assert not DEFAULT.address_allowed(ipaddress.IPv6Address(address))

    @pytest.mark.parametrize("address", ["2002:5db8:d70e::1", "2001:0:5db8:d70e::1", "::ffff:0:5db8:d70e"])
    def test_carrier_the_registry_does_not_call_global_is_denied_even_around_a_public_ipv4(self, address: str) -> None:
        """6to4 and Teredo (registry: N/A) and IPv4-translated addresses are refused whatever they carry."""
        assert not DEFAULT.address_allowed(ipaddress.IPv6Address(address))

    def test_nat64_of_a_public_ipv4_is_allowed(self) -> None:
        """A NAT64 address wrapping a public IPv4 address is judged by that address and allowed."""
        assert DEFAULT.address_allowed(ipaddress.IPv6Address("64:ff9b::5db8:d70e"))

    @given(st.ip_addresses(v=4))
    def test_mapped_address_is_judged_like_its_ipv4(self, address: ipaddress.IPv4Address) -> None:
        """An IPv4-mapped IPv6 address gets the same verdict as the IPv4 address inside it."""
        mapped = ipaddress.IPv6Address(f"::ffff:{address}")
        assert DEFAULT.address_allowed(mapped) == DEFAULT.address_allowed(address)

    @given(st.integers(min_value=0, max_value=2**32 - 1))
    def test_decimal_spelling_gets_the_dotted_verdict(self, number: int) -> None:
        """An IPv4 address written as one decimal number is judged like its dotted form."""
        dotted = str(ipaddress.IPv4Address(number))
        assert DEFAULT.host_verdict(str(number)) is DEFAULT.host_verdict(dotted)


class TestListsAndDevMode:
    def test_dev_mode_allows_loopback(self) -> None:
        """Development mode admits loopback addresses and localhost."""
        assert (DEV.host_verdict("127.0.0.1"), DEV.host_verdict("localhost")) == (HostVerdict.ALLOWED,) * 2

    def test_dev_mode_still_denies_private_networks(self) -> None:
        """Development mode admits loopback only, not private networks."""
        assert DEV.host_verdict("10.0.0.1") is HostVerdict.DENIED

    def test_dev_mode_allows_plain_http(self) -> None:
        """Development mode admits plain http."""
        assert DEV.plain_http_allowed("example.com")

    def test_allow_listed_network_is_allowed(self) -> None:
        """An address inside an allow-listed CIDR is allowed."""
        policy = EgressPolicy.from_entries(allow=["10.1.0.0/16"])
        assert policy.host_verdict("10.1.2.3") is HostVerdict.ALLOWED

    def test_allow_listed_host_skips_resolution_and_may_use_http(self) -> None:
        """An allow-listed host name is allowed as it is, also over plain http."""
        policy = EgressPolicy.from_entries(allow=["Hooks.Internal."])
        assert (policy.host_verdict("hooks.internal"), policy.plain_http_allowed("hooks.internal")) == (
            HostVerdict.ALLOWED,
            True,
        )

    def test_deny_list_wins_over_allow_list(self) -> None:
        """An address both allow- and deny-listed is denied."""
        policy = EgressPolicy.from_entries(allow=["10.0.0.0/8"], deny=["10.9.0.0/16"])
        assert policy.host_verdict("10.9.0.1") is HostVerdict.DENIED

    def test_denied_host_name_is_denied(self) -> None:
        """A deny-listed name is denied without resolution."""
        policy = EgressPolicy.from_entries(deny=["metadata.google.internal"])
        assert policy.host_verdict("METADATA.google.internal.") is HostVerdict.DENIED

    def test_deny_list_wins_over_global_address(self) -> None:
        """A deny-listed global network is denied."""
        policy = EgressPolicy.from_entries(deny=["1.1.1.0/24"])
        assert policy.host_verdict("1.1.1.1") is HostVerdict.DENIED
