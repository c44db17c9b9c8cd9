"""The table of special-purpose address blocks that decides which addresses are global (docs/egress.md).

Every row of the IANA IPv4 and IPv6 Special-Purpose Address Registries is here with its RFC and its
"Globally Reachable" value, plus the blocks those registries leave to the IANA address-space
registries (multicast, the IPv6 space outside global unicast, the deprecated site-local block) and two
deprecated IPv6 forms that carry an IPv4 address. An address is global when the most specific block
containing it is marked globally reachable, or when no block contains it. ``N/A`` (Teredo, 6to4) and a
missing value count as not global. The lookup is one binary search, because it runs on every connect.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV4_SPECIAL = "IANA IPv4 Special-Purpose Address Registry"
IPV6_SPECIAL = "IANA IPv6 Special-Purpose Address Registry"
IPV4_SPACE = "IANA IPv4 Address Space Registry"
IPV6_SPACE = "IANA IPv6 Address Space Registry"
UNREGISTERED = "no IANA registry (an IPv6 form that carries an IPv4 address)"


@dataclass(frozen=True)
class AddressBlock:
    """One table row: a block, its registry name, the RFCs behind it and whether it is globally reachable.

    ``globally_reachable`` is None where the registry says ``N/A`` or gives no value.
    """

    network: IPNetwork
    name: str
    rfc: str
    registry: str
    globally_reachable: bool | None

    def describe(self) -> str:
        """A short human description, e.g. ``10.0.0.0/8 Private-Use (RFC 1918)``."""
        return f"{self.network} {self.name} ({self.rfc})"


def _row(network: str, name: str, rfc: str, registry: str, reachable: bool | None) -> AddressBlock:
    return AddressBlock(ipaddress.ip_network(network), name, rfc, registry, reachable)


def _ipv4(network: str, name: str, rfc: str, reachable: bool | None) -> AddressBlock:
    return _row(network, name, rfc, IPV4_SPECIAL, reachable)


def _ipv6(network: str, name: str, rfc: str, reachable: bool | None) -> AddressBlock:
    return _row(network, name, rfc, IPV6_SPECIAL, reachable)


def _ipv6_space(network: str, name: str, rfc: str, reachable: bool = False) -> AddressBlock:
    return _row(network, name, rfc, IPV6_SPACE, reachable)


# IANA IPv4 Special-Purpose Address Registry, every row (docs/egress.md says how to refresh it).
IPV4_SPECIAL_ROWS = (
    _ipv4("0.0.0.0/8", '"This network"', "RFC 791 §3.2", False),
    _ipv4("0.0.0.0/32", '"This host on this network"', "RFC 1122 §3.2.1.3", False),
    _ipv4("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    _ipv4("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    _ipv4("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3", False),
    _ipv4("169.254.0.0/16", "Link Local", "RFC 3927", False),
    _ipv4("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    _ipv4("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1", False),
    _ipv4("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    _ipv4("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    _ipv4("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    _ipv4("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _ipv4("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", False),
    _ipv4("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", False),
    _ipv4("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    _ipv4("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    _ipv4("192.52.193.0/24", "AMT", "RFC 7450", True),
    _ipv4("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", None),
    _ipv4("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", False),
    _ipv4("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    _ipv4("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    _ipv4("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    _ipv4("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    _ipv4("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    _ipv4("240.0.0.0/4", "Reserved", "RFC 1112 §4", False),
    _ipv4("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7", False),
)

# IANA IPv6 Special-Purpose Address Registry, every row.
IPV6_SPECIAL_ROWS = (
    _ipv6("::1/128", "Loopback Address", "RFC 4291", False),
    _ipv6("::/128", "Unspecified Address", "RFC 4291", False),
    _ipv6("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    _ipv6("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    _ipv6("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", False),
    _ipv6("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    _ipv6("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    _ipv6("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    _ipv6("2001::/32", "TEREDO", "RFC 4380, RFC 8190", None),
    _ipv6("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    _ipv6("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _ipv6("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    _ipv6("2001:2::/48", "Benchmarking", "RFC 5180, RFC Errata 1752", False),
    _ipv6("2001:3::/32", "AMT", "RFC 7450", True),
    _ipv6("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    _ipv6("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", None),
    _ipv6("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    _ipv6("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    _ipv6("2001:db8::/32", "Documentation", "RFC 3849", False),
    _ipv6("2002::/16", "6to4", "RFC 3056", None),
    _ipv6("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    _ipv6("3fff::/20", "Documentation", "RFC 9637", False),
    _ipv6("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    _ipv6("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", False),
    _ipv6("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
)

# Blocks the special-purpose registries leave to the address-space registries: multicast, and every
# IPv6 block IANA has not allocated for global unicast (fc00::/7 and fe80::/10 are rows above).
ADDRESS_SPACE_ROWS = (
    _row("224.0.0.0/4", "Multicast", "RFC 5771", IPV4_SPACE, False),
    _ipv6_space("::/8", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("100::/8", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("200::/7", "Reserved by IETF", "RFC 4048"),
    _ipv6_space("400::/6", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("800::/5", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("1000::/4", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("2000::/3", "Global Unicast", "RFC 4291", reachable=True),
    _ipv6_space("4000::/3", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("6000::/3", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("8000::/3", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("a000::/3", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("c000::/3", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("e000::/4", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("f000::/5", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("f800::/6", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("fe00::/9", "Reserved by IETF", "RFC 4291"),
    _ipv6_space("fec0::/10", "Reserved by IETF (deprecated site-local)", "RFC 3879"),
    _ipv6_space("ff00::/8", "Multicast", "RFC 4291"),
)

# IPv6 forms that carry an IPv4 address but have no row of their own; ::/8 already covers both.
EMBEDDING_ROWS = (
    _row("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1", UNREGISTERED, False),
    _row("::ffff:0:0:0/96", "IPv4-translated (SIIT)", "RFC 2765 §2.1, RFC 6145", UNREGISTERED, False),
)

ALL_BLOCKS = IPV4_SPECIAL_ROWS + IPV6_SPECIAL_ROWS + ADDRESS_SPACE_ROWS + EMBEDDING_ROWS


class _IntervalIndex:
    """Longest-prefix match over one address family as one binary search.

    The block edges cut the address space into intervals inside which the set of containing blocks
    does not change, so each interval's most specific block is found once, here, by a plain scan.
    """

    def __init__(self, blocks: Iterable[AddressBlock], size: int) -> None:
        rows = list(blocks)
        if len({block.network for block in rows}) != len(rows):
            raise ValueError("a block is in the address table twice")
        edges = {0} | {int(b.network.network_address) for b in rows}
        edges |= {int(b.network.broadcast_address) + 1 for b in rows} - {size}
        self._starts = sorted(edges)
        self._blocks = [_scan(rows, start) for start in self._starts]

    def most_specific(self, value: int) -> AddressBlock | None:
        """The block with the longest prefix containing the address whose integer value is given."""
        return self._blocks[bisect.bisect_right(self._starts, value) - 1]


def _scan(rows: list[AddressBlock], value: int) -> AddressBlock | None:
    containing = [b for b in rows if int(b.network.network_address) <= value <= int(b.network.broadcast_address)]
    return max(containing, key=lambda block: block.network.prefixlen, default=None)


_IPV4_INDEX = _IntervalIndex((b for b in ALL_BLOCKS if b.network.version == 4), 2**32)
_IPV6_INDEX = _IntervalIndex((b for b in ALL_BLOCKS if b.network.version == 6), 2**128)


def most_specific_block(address: IPAddress) -> AddressBlock | None:
    """The table row with the longest prefix that contains the address, if any."""
    index = _IPV4_INDEX if address.version == 4 else _IPV6_INDEX
    return index.most_specific(int(address))


def is_globally_reachable(address: IPAddress) -> bool:
    """True when the address's most specific row says globally reachable, or no row contains it."""
    block = most_specific_block(address)
    return block is None or block.globally_reachable is True
