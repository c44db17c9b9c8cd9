"""Test support for the egress policy: a reference reading of the address table and hypothesis strategies.

``reference_block`` scans the table row by row with ``ipaddress`` containment, independently of the
indexed lookup the policy uses. The strategies draw addresses from table blocks, wrap IPv4 addresses
in every IPv6 form that carries one, and spell dotted quads with Unicode look-alikes IDNA maps back.
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from callout.domain.address_registry import ALL_BLOCKS, AddressBlock
from callout.domain.egress import IPAddress

NOT_GLOBAL_IPV4_BLOCKS = [b for b in ALL_BLOCKS if b.network.version == 4 and b.globally_reachable is not True]
# Where RFC 6052 puts the four IPv4 octets for a /48, /56, /64 and /96 NAT64 prefix.
RFC6052_LAYOUTS = {48: (6, 7, 9, 10), 56: (7, 9, 10, 11), 64: (9, 10, 11, 12), 96: (12, 13, 14, 15)}
# Characters IDNA (UTS 46) maps to each digit, and to the dot.
DIGIT_SPELLINGS = {
    digit: [str(digit), chr(0xFF10 + digit), chr(0x1D7CE + digit), chr(0x1D7EC + digit)]
    + ([chr(0x2460 + digit - 1)] if digit else [chr(0x24EA)])
    for digit in range(10)
}
DOT_SPELLINGS = [".", "\u3002", "\uff0e", "\uff61"]


def reference_block(address: IPAddress) -> AddressBlock | None:
    """The most specific table row containing the address, by a plain scan of every row."""
    containing = [block for block in ALL_BLOCKS if address in block.network]
    return max(containing, key=lambda block: block.network.prefixlen, default=None)


def reference_global(address: IPAddress) -> bool:
    """Whether the table, read row by row, says the address is globally reachable."""
    block = reference_block(address)
    return block is None or block.globally_reachable is True


def block_samples(block: AddressBlock) -> list[IPAddress]:
    """The first, a middle and the last address of a block."""
    network = block.network
    middle = int(network.network_address) + network.num_addresses // 2
    return [network.network_address, ipaddress.ip_address(middle), network.broadcast_address]


def addresses_in(block: AddressBlock) -> st.SearchStrategy[IPAddress]:
    """Any address inside the block."""
    first = int(block.network.network_address)
    return st.integers(first, int(block.network.broadcast_address)).map(ipaddress.ip_address)


def not_global_ipv4() -> st.SearchStrategy[ipaddress.IPv4Address]:
    """An IPv4 address whose most specific table row is not globally reachable."""
    candidates = st.sampled_from(NOT_GLOBAL_IPV4_BLOCKS).flatmap(addresses_in)
    return candidates.filter(lambda address: not reference_global(address))  # type: ignore[return-value]


def _bits(count: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**count - 1)


def _v6(value: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(value)


def _nat64_local(inner: ipaddress.IPv4Address, layout: tuple[int, ...], filler: int) -> ipaddress.IPv6Address:
    packed = bytearray(bytes.fromhex("0064ff9b0001") + filler.to_bytes(10, "big"))
    packed[8] = 0  # the RFC 6052 "u" octet
    for position, octet in zip(layout, inner.packed, strict=True):
        packed[position] = octet
    return ipaddress.IPv6Address(bytes(packed))


def carriers(inner: ipaddress.IPv4Address) -> st.SearchStrategy[ipaddress.IPv6Address]:
    """Every IPv6 form that carries the IPv4 address: mapped, translated, compatible, NAT64, 6to4, Teredo."""
    value = int(inner)
    teredo = 0x20010000 << 96
    compatible = [_v6(value)] if value > 1 else []  # ::0.0.0.1 is ::1, not a carrier
    return st.one_of(
        st.sampled_from([_v6(0xFFFF << 32 | value), _v6(0xFFFF << 48 | value), *compatible]),
        st.just(_v6(0x64FF9B << 96 | value)),
        st.builds(_nat64_local, st.just(inner), st.sampled_from(list(RFC6052_LAYOUTS.values())), _bits(80)),
        _bits(80).map(lambda low: _v6(0x2002 << 112 | value << 80 | low)),
        _bits(64).map(lambda low: _v6(teredo | value << 64 | low)),
        st.tuples(_bits(32), _bits(32)).map(lambda p: _v6(teredo | p[0] << 64 | p[1] << 32 | (~value & 0xFFFFFFFF))),
    )


def carried_not_global_ipv4() -> st.SearchStrategy[ipaddress.IPv6Address]:
    """A non-global IPv4 address wrapped in any IPv6 form that carries it."""
    return not_global_ipv4().flatmap(carriers)


def look_alike_spelling(address: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """The dotted quad with each digit and dot drawn from the characters IDNA maps onto it."""
    parts = [st.sampled_from(DOT_SPELLINGS if char == "." else DIGIT_SPELLINGS[int(char)]) for char in str(address)]
    return st.tuples(*parts).map("".join)
