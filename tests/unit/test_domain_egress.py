"""The egress policy: which addresses and hosts a target may point at, in every spelling."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.domain.egress import EgressPolicy, HostVerdict, embedded_ipv4, parse_ip

DEFAULT = EgressPolicy()
DEV = EgressPolicy(dev_mode=True)

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
    "localhost",
    "LOCALHOST.",
    "api.localhost",
]


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

    @given(st.ip_addresses())
    def test_address_is_allowed_only_if_global(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        """The default policy allows exactly global, non-multicast addresses, judging tunnelled IPv4 too."""
        effective = (
            address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
        )
        inner = embedded_ipv4(effective)
        expected = all(a.is_global and not a.is_multicast for a in (effective, inner) if a is not None)
        assert DEFAULT.address_allowed(address) == expected

    @pytest.mark.parametrize("address", ["64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:a00:1::", "::7f00:1", "::a00:1"])
    def test_ipv6_tunnelling_a_private_ipv4_is_denied(self, address: str) -> None:
        """NAT64, 6to4 and IPv4-compatible addresses wrapping a private IPv4 address are denied."""
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
