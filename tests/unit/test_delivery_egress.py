"""The send-time egress gates without any network: the URL pre-check, the address filter and the policy resolver."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
import yarl
from hypothesis import given, reject
from hypothesis import strategies as st

from callout.delivery.egress import (
    EgressBlocked,
    PolicyResolver,
    UnreadableURL,
    check_url,
    client_url,
    permitted_addresses,
)
from callout.delivery.resolvers import StaticResolver
from callout.delivery.sender import EgressDenied
from callout.domain.egress import EgressPolicy, InvalidHost, IPAddress, normalise_host
from tests.egress_forms import carried_not_global_ipv4, look_alike_spelling, not_global_ipv4

DEFAULT = EgressPolicy()
DEV = EgressPolicy(dev_mode=True)
POLICIES = [
    DEFAULT,
    DEV,
    EgressPolicy.from_entries(allow=["10.0.0.0/8", "fd00::/8"], deny=["10.9.0.0/16", "8.8.8.0/24"]),
    EgressPolicy.from_entries(deny=["2000::/3"], dev_mode=True),
]
PUBLIC = ipaddress.ip_address("93.184.215.14")
PRIVATE = ipaddress.ip_address("10.0.0.7")


def _blocked_rule(policy: EgressPolicy, url: str) -> str:
    with pytest.raises(EgressBlocked) as caught:
        check_url(policy, yarl.URL(url))
    return caught.value.rule


def _resolve(policy: EgressPolicy, table: dict[str, list[str]], host: str, family: int = 0) -> list[str]:
    resolver = PolicyResolver(policy, StaticResolver(table))
    results = asyncio.run(resolver.resolve(host, 443, socket.AddressFamily(family)))
    return [result["host"] for result in results]


class TestClientUrl:
    @pytest.mark.parametrize("host", ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1"])
    def test_look_alike_host_is_read_as_the_ascii_address(self, host: str) -> None:
        """The client reads fullwidth, ideographic-dot and circled-digit spellings as 127.0.0.1."""
        assert client_url(f"https://{host}/hook").raw_host == "127.0.0.1"

    @pytest.mark.parametrize(
        "url", ["https://a\u00adb.example/", "https://a\u200bb.example/", "https://a\uff0fb/", "https://[]@/"]
    )
    def test_host_the_client_cannot_read_is_unreadable(self, url: str) -> None:
        """Invisible characters, ones that map to a delimiter, or a broken authority make the URL unreadable."""
        with pytest.raises(UnreadableURL):
            client_url(url)

    @given(st.text(st.sampled_from("aZ09.-ß①１。．ｆΩ𝟕"), min_size=1, max_size=20))
    def test_policy_normalisation_matches_the_client(self, host: str) -> None:
        """Where both read a host, the policy's normal form is the one the client connects to."""
        try:
            expected = normalise_host(host)
            raw_host = client_url(f"https://{host}/").raw_host
        except (InvalidHost, UnreadableURL):
            reject()
        assert normalise_host(raw_host or "") == expected


class TestCheckUrl:
    def test_public_https_url_passes(self) -> None:
        """An https URL with a public literal passes the pre-check."""
        check_url(DEFAULT, yarl.URL("https://93.184.215.14/hook"))

    def test_name_passes_to_resolution(self) -> None:
        """An https URL with an ordinary name passes; its addresses are judged at connect time."""
        check_url(DEFAULT, yarl.URL("https://hooks.example.com/hook"))

    @pytest.mark.parametrize("url", ["ftp://93.184.215.14/x", "file:///etc/passwd", "unix:///run/x.sock", "/relative"])
    def test_other_schemes_are_blocked(self, url: str) -> None:
        """Only http and https URLs with a host may be called."""
        assert _blocked_rule(DEV, url) == "scheme"

    def test_plain_http_is_blocked_by_default(self) -> None:
        """Plain http to a public host is refused without dev mode or an allow list."""
        assert _blocked_rule(DEFAULT, "http://93.184.215.14/hook") == "plain_http"

    @pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "010.0.0.1", "127.0.0.1."])
    def test_non_canonical_literals_are_blocked_even_in_dev_mode(self, host: str) -> None:
        """A non-canonical IPv4 spelling is refused outright, whatever it would mean."""
        assert _blocked_rule(DEV, f"http://{host}/hook") == "ambiguous_literal"

    def test_deny_listed_name_is_blocked(self) -> None:
        """A deny-listed host name is refused before resolution."""
        policy = EgressPolicy.from_entries(deny=["evil.example"])
        assert _blocked_rule(policy, "https://EVIL.example./hook") == "host"

    def test_unicode_spelling_of_localhost_is_blocked(self) -> None:
        """A host that IDNA maps onto localhost is refused like localhost."""
        assert _blocked_rule(DEFAULT, "https://ⓛocalhost/hook") == "host"

    @pytest.mark.parametrize(
        "host",
        [
            "example.com@127.0.0.1",
            "user:pw@[::1]",
            "[fe80::1%25eth0]",
            "[::ffff:127.0.0.1]",
            "[::ffff:0:127.0.0.1]",
            "[::127.0.0.1]",
            "[fec0::1]",
            "[3fff::1]",
            "[5f00::1]",
            "[100:0:0:1::1]",
        ],
    )
    def test_userinfo_zone_and_bracketed_forms_are_judged_by_their_address(self, host: str) -> None:
        """Userinfo, zone ids and bracketed IPv4 carriers are refused by the address the client connects to."""
        assert _blocked_rule(DEFAULT, f"https://{host}/hook") == "host"

    def test_refusal_names_the_table_block(self) -> None:
        """The refusal says which registry block the address is in."""
        with pytest.raises(EgressBlocked, match=r"3fff::/20 Documentation \(RFC 9637\)"):
            check_url(DEFAULT, yarl.URL("https://[3fff::1]/hook"))

    @given(carried_not_global_ipv4())
    def test_literal_carrying_a_non_global_ipv4_is_blocked(self, carrier: ipaddress.IPv6Address) -> None:
        """Any IPv6 literal that carries a non-global IPv4 address is refused before connecting."""
        assert _blocked_rule(DEFAULT, f"https://[{carrier}]/hook") == "host"

    @given(not_global_ipv4().flatmap(look_alike_spelling))
    def test_look_alike_spelling_of_a_non_global_address_is_blocked(self, host: str) -> None:
        """A non-global IPv4 address spelt with look-alike digits and dots is refused before connecting."""
        assert _blocked_rule(DEFAULT, f"https://{host}/hook") == "host"


class TestPermittedAddresses:
    def test_only_allowed_addresses_remain(self) -> None:
        """Of a public and a private address, only the public one may be used."""
        assert permitted_addresses(DEFAULT, "mixed.example", [PRIVATE, PUBLIC]) == [PUBLIC]

    def test_ipv4_mapped_addresses_are_unwrapped(self) -> None:
        """An IPv4-mapped IPv6 address is judged, and returned, as its IPv4 address."""
        mapped = ipaddress.ip_address("::ffff:93.184.215.14")
        assert permitted_addresses(DEFAULT, "mapped.example", [mapped]) == [PUBLIC]

    def test_allow_listed_name_may_use_private_addresses(self) -> None:
        """A name on the allow list may use its private addresses, except deny-listed ones."""
        policy = EgressPolicy.from_entries(allow=["internal.svc"], deny=["10.9.0.0/16"])
        addresses: list[IPAddress] = [PRIVATE, ipaddress.ip_address("10.9.0.1")]
        assert permitted_addresses(policy, "internal.svc", addresses) == [PRIVATE]

    def test_allow_listed_name_may_not_use_a_carrier_of_a_deny_listed_address(self) -> None:
        """The deny list also applies to the IPv4 address a NAT64 answer of an allow-listed name carries."""
        policy = EgressPolicy.from_entries(allow=["internal.svc"], deny=["10.9.0.0/16"])
        addresses: list[IPAddress] = [ipaddress.ip_address("64:ff9b::a09:1"), PRIVATE]
        assert permitted_addresses(policy, "internal.svc", addresses) == [PRIVATE]


class TestPolicyResolver:
    @given(address=st.ip_addresses(), policy=st.sampled_from(POLICIES))
    def test_returns_an_address_iff_the_policy_allows_it(self, address: IPAddress, policy: EgressPolicy) -> None:
        """A name's address is returned exactly when address_allowed says yes; otherwise EgressDenied."""
        table = {"pinned.test": [str(address)]}
        if policy.address_allowed(address):
            unwrapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
            assert _resolve(policy, table, "pinned.test") == [str(unwrapped or address)]
        else:
            with pytest.raises(EgressDenied):
                _resolve(policy, table, "pinned.test")

    def test_denied_addresses_are_dropped_from_a_mixed_answer(self) -> None:
        """Only the allowed addresses of a name are handed to aiohttp, in their order."""
        table = {"mixed.test": ["127.0.0.1", "93.184.215.14", "10.0.0.1", "2606:2800:220:1::1"]}
        assert _resolve(DEFAULT, table, "mixed.test") == ["93.184.215.14", "2606:2800:220:1::1"]

    def test_family_is_respected(self) -> None:
        """Asked for IPv4 only, the resolver returns only IPv4 addresses."""
        table = {"dual.test": ["2606:2800:220:1::1", "93.184.215.14"]}
        assert _resolve(DEFAULT, table, "dual.test", socket.AF_INET) == ["93.184.215.14"]

    def test_unknown_name_is_a_lookup_failure(self) -> None:
        """A name that does not resolve is an OSError, which aiohttp reports as a DNS failure."""
        with pytest.raises(OSError, match="does not resolve"):
            _resolve(DEFAULT, {}, "unknown.test")

    def test_hex_literal_is_judged_as_an_address(self) -> None:
        """A hex IPv4 spelling that reaches the resolver is refused, not looked up."""
        with pytest.raises(EgressDenied):
            _resolve(DEV, {}, "0x7f.1")

    @given(carried_not_global_ipv4())
    def test_name_resolving_to_a_carrier_of_a_non_global_ipv4_is_refused(self, carrier: ipaddress.IPv6Address) -> None:
        """A name whose only address carries a non-global IPv4 address resolves to nothing allowed."""
        with pytest.raises(EgressDenied):
            _resolve(DEFAULT, {"carrier.test": [str(carrier)]}, "carrier.test")

    def test_localhost_is_refused_without_lookup(self) -> None:
        """localhost is refused by name even if the resolver would answer a public address."""
        with pytest.raises(EgressDenied):
            _resolve(DEFAULT, {"localhost": ["93.184.215.14"]}, "localhost")
