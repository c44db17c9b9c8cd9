"""The egress (SSRF) policy: which hosts and addresses callout may send to (SPEC §1, §9).

By default only globally routable addresses over HTTPS are allowed. An allow list of networks and
host names admits internal targets (and plain http to them); a deny list always wins; development
mode admits loopback and plain http. IPv4 addresses written in decimal, octal or hex, and IPv4-mapped
IPv6 addresses, are normalised first so that no spelling slips through.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostVerdict(enum.Enum):
    """What the policy says about a host before any name resolution."""

    ALLOWED = "allowed"
    DENIED = "denied"
    RESOLVE = "resolve"  # a name: its addresses decide


def parse_ip(host: str) -> IPAddress | None:
    """Read an IP literal in any spelling a resolver would accept; None for host names."""
    text = host.strip("[]")
    address: IPAddress | None
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        address = _legacy_ipv4(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    # inet_aton accepts "2130706433", "0x7f.1", "0177.0.0.1" — exactly what resolvers accept.
    if not text or not all(char in "0123456789abcdefxABCDEFX." for char in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (NAT64, 6to4, IPv4-compatible), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None  # (:: and ::1 are not IPv4-compatible addresses but themselves)


def normalise_host(host: str) -> str:
    """Lower-case a host name and drop a trailing dot."""
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class EgressPolicy:
    """Allow and deny lists plus the development-mode switch."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    deny_networks: tuple[IPNetwork, ...] = ()
    deny_hosts: frozenset[str] = frozenset()
    dev_mode: bool = False

    @classmethod
    def from_entries(cls, allow: Iterable[str] = (), deny: Iterable[str] = (), dev_mode: bool = False) -> EgressPolicy:
        """Build a policy from entries that are each a CIDR, an IP or a host name."""
        allow_networks, allow_hosts = _split_entries(allow)
        deny_networks, deny_hosts = _split_entries(deny)
        return cls(allow_networks, allow_hosts, deny_networks, deny_hosts, dev_mode)

    def address_allowed(self, address: IPAddress) -> bool:
        """Deny list first, then allow list, then loopback in dev mode, else only global addresses.

        An IPv6 address that carries an IPv4 address (mapped, compatible, NAT64, 6to4) is allowed
        only if the IPv4 address inside is: behind a NAT64 gateway 64:ff9b::10.0.0.1 reaches 10.0.0.1.
        """
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        embedded = embedded_ipv4(address)
        if embedded is not None and not self._single_address_allowed(embedded):
            return False
        return self._single_address_allowed(address)

    def _single_address_allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self.deny_networks):
            return False
        if any(address in network for network in self.allow_networks):
            return True
        if self.dev_mode and address.is_loopback:
            return True
        return address.is_global and not address.is_multicast

    def host_verdict(self, host: str) -> HostVerdict:
        """Judge a host from its name or literal alone."""
        name = normalise_host(host)
        if name in self.deny_hosts:
            return HostVerdict.DENIED
        if name == "localhost" or name.endswith(".localhost"):  # always loopback (RFC 6761)
            return HostVerdict.ALLOWED if self.dev_mode else HostVerdict.DENIED
        address = parse_ip(name)
        if address is not None:
            return HostVerdict.ALLOWED if self.address_allowed(address) else HostVerdict.DENIED
        if name in self.allow_hosts:
            return HostVerdict.ALLOWED
        return HostVerdict.RESOLVE

    def plain_http_allowed(self, host: str) -> bool:
        """Plain http only in dev mode or to hosts and networks the operator allow-listed."""
        if self.dev_mode or normalise_host(host) in self.allow_hosts:
            return True
        address = parse_ip(normalise_host(host))
        return address is not None and any(address in network for network in self.allow_networks)


def _split_entries(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in (item.strip() for item in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(normalise_host(entry))
    return tuple(networks), frozenset(hosts)
