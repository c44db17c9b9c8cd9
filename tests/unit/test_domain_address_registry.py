"""The special-purpose address table: its rows, its lookup, and the policy's verdict on every row."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from callout.domain.address_registry import (
    ALL_BLOCKS,
    IPV4_SPECIAL,
    IPV4_SPECIAL_ROWS,
    IPV6_SPECIAL,
    IPV6_SPECIAL_ROWS,
    AddressBlock,
    is_globally_reachable,
    most_specific_block,
)
from callout.domain.egress import EgressPolicy, HostVerdict, IPAddress, embedded_ipv4s, unwrap_mapped
from tests.egress_forms import addresses_in, block_samples, reference_block, reference_global

DEFAULT = EgressPolicy()
SAMPLES = [
    pytest.param(block, sample, id=f"{block.network}-{sample}")
    for block in ALL_BLOCKS
    for sample in block_samples(block)
]
# Blocks the registries mark "Globally Reachable: True".
REGISTRY_GLOBAL = [
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.175.48.0/24",
    "64:ff9b::/96",
    "2001:1::1/128",
    "2001:1::2/128",
    "2001:1::3/128",
    "2001:3::/32",
    "2001:4:112::/48",
    "2001:20::/28",
    "2001:30::/28",
    "2620:4f:8000::/48",
]
# What Python 3.11's is_global lets through although no registry calls it globally reachable.
PYTHON_GAPS = ["fec0::1", "3fff::1", "5f00::1", "100:0:0:1::1", "::ffff:0:7f00:1", "::7f00:1", "2002:5db8:d70e::1"]


def _expected(address: IPAddress) -> bool:
    # Mapped addresses are the IPv4 address they carry; other carriers pass only with what they carry.
    outer = unwrap_mapped(address)
    return all(reference_global(candidate) for candidate in (outer, *embedded_ipv4s(outer)))


class TestRows:
    def test_registry_rows_are_complete_by_count(self) -> None:
        """The table holds the 26 IPv4 and 25 IPv6 rows of the special-purpose registries."""
        assert (len(IPV4_SPECIAL_ROWS), len(IPV6_SPECIAL_ROWS)) == (26, 25)

    def test_no_block_is_listed_twice(self) -> None:
        """Every block appears once, so the most specific row is unambiguous."""
        assert len({block.network for block in ALL_BLOCKS}) == len(ALL_BLOCKS)

    @pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda block: str(block.network))
    def test_every_row_cites_an_rfc_and_a_registry(self, block: AddressBlock) -> None:
        """Each row names the RFC behind it and the registry it comes from."""
        assert (block.rfc[:4], bool(block.registry), bool(block.name)) == ("RFC ", True, True)

    def test_special_purpose_rows_come_from_their_registry(self) -> None:
        """The IPv4 and IPv6 special-purpose rows are attributed to their registries."""
        registries = {b.registry for b in IPV4_SPECIAL_ROWS}, {b.registry for b in IPV6_SPECIAL_ROWS}
        assert registries == ({IPV4_SPECIAL}, {IPV6_SPECIAL})

    def test_globally_reachable_rows_are_exactly_the_registry_ones(self) -> None:
        """Only the blocks the registries mark globally reachable (and 2000::/3) are marked so."""
        marked = {str(block.network) for block in ALL_BLOCKS if block.globally_reachable is True}
        assert marked == {*REGISTRY_GLOBAL, "2000::/3"}


class TestLookup:
    @pytest.mark.parametrize(("block", "sample"), SAMPLES)
    def test_first_middle_and_last_address_find_the_most_specific_row(
        self, block: AddressBlock, sample: IPAddress
    ) -> None:
        """The indexed lookup agrees with a row-by-row scan at the edges and middle of every block."""
        assert most_specific_block(sample) == reference_block(sample)

    @given(st.ip_addresses())
    def test_lookup_agrees_with_a_scan_for_any_address(self, address: IPAddress) -> None:
        """For any address the indexed lookup returns the row a plain scan finds."""
        assert most_specific_block(address) == reference_block(address)

    @pytest.mark.parametrize("address", PYTHON_GAPS)
    def test_blocks_python_calls_global_are_not_reachable(self, address: str) -> None:
        """Site-local, RFC 9637 documentation, SRv6, the dummy prefix and IPv4 carriers are not global."""
        assert not is_globally_reachable(ipaddress.ip_address(address))


class TestPolicyOverTheTable:
    @pytest.mark.parametrize(("block", "sample"), SAMPLES)
    def test_edges_and_middle_of_every_block_get_the_registry_verdict(
        self, block: AddressBlock, sample: IPAddress
    ) -> None:
        """First, middle and last address are refused unless their row is globally reachable."""
        assert DEFAULT.address_allowed(sample) is _expected(sample)

    @pytest.mark.parametrize(("block", "sample"), SAMPLES)
    def test_literal_of_every_sample_gets_the_same_verdict_as_its_address(
        self, block: AddressBlock, sample: IPAddress
    ) -> None:
        """An IP-literal host is judged like the address it spells."""
        expected = HostVerdict.ALLOWED if _expected(sample) else HostVerdict.DENIED
        assert DEFAULT.host_verdict(f"[{sample}]" if sample.version == 6 else str(sample)) is expected

    @pytest.mark.parametrize("network", [n for n in REGISTRY_GLOBAL if not n.startswith("64:")])
    def test_registry_global_block_is_allowed_throughout(self, network: str) -> None:
        """Every sample of a globally reachable block (other than NAT64) is allowed."""
        block = next(b for b in ALL_BLOCKS if str(b.network) == network)
        assert all(DEFAULT.address_allowed(sample) for sample in block_samples(block))

    @given(st.sampled_from([b for b in ALL_BLOCKS if b.globally_reachable is not True]).flatmap(addresses_in))
    def test_any_address_of_a_non_global_row_is_refused(self, address: IPAddress) -> None:
        """An address whose most specific row is not globally reachable is refused (mapped: its IPv4)."""
        assume(not reference_global(address))  # not in a globally reachable sub-block
        assume(unwrap_mapped(address) == address)  # a mapped address is judged as its IPv4 address
        assert not DEFAULT.address_allowed(address)

    @given(st.sampled_from([b for b in ALL_BLOCKS if b.globally_reachable is True]).flatmap(addresses_in))
    def test_any_address_the_table_marks_global_is_allowed(self, address: IPAddress) -> None:
        """An address whose row is globally reachable, carrying no refused IPv4 address, is allowed."""
        assume(_expected(address))  # not in a non-global sub-block, not NAT64 of a non-global IPv4
        assert DEFAULT.address_allowed(address)
