"""The egress (SSRF) policy: which hosts and addresses callout may send to (docs/egress.md).

By default only globally reachable addresses over HTTPS are allowed, as the special-purpose address
table (``address_registry``) says. An allow list of networks and host names admits internal targets
(and plain http to them); a deny list always wins; development mode admits loopback and plain http.
Host names are normalised the way the HTTP client reads them (IDNA / UTS 46), IPv4 addresses written
in decimal, octal or hex are read as a resolver would, and an IPv6 address that carries an IPv4
address (mapped, translated, compatible, NAT64, 6to4, Teredo) is judged by that address too.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import idna

from callout.domain.address_registry import IPAddress as IPAddress
from callout.domain.address_registry import IPNetwork as IPNetwork
from callout.domain.address_registry import is_globally_reachable, most_specific_block

_LOOPBACK = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))


class HostVerdict(enum.Enum):
    """What the policy says about a host before any name resolution."""

    ALLOWED = "allowed"
    DENIED = "denied"
    RESOLVE = "resolve"  # a name: its addresses decide


class InvalidHost(ValueError):
    """A host that IDNA (UTS 46) cannot map to an ASCII name."""


def normalise_host(host: str) -> str:
    """The host as the HTTP client connects to it: UTS 46 mapped to ASCII, lower case, no trailing dot.

    ``１２７.０.０.１``, ``127。0。0。1`` and ``①②⑦.0.0.1`` all become ``127.0.0.1``. Idempotent.
    """
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise InvalidHost(f"the host {host!r} has no IDNA (UTS 46) form") from error
    return host.lower().rstrip(".")


def parse_ip(host: str) -> IPAddress | None:
    """Read an IP literal in any spelling a resolver would accept, IPv4-mapped unwrapped; None for names."""
    text = host.strip("[]")
    address: IPAddress | None
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        address = _legacy_ipv4(text)
    return None if address is None else unwrap_mapped(address)


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    # inet_aton accepts "2130706433", "0x7f.1", "0177.0.0.1" — exactly what resolvers accept.
    if not text or not all(char in "0123456789abcdefxABCDEFX." for char in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def unwrap_mapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as its IPv4 address (a dual-stack socket connects to that); else itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# The prefixes as integers, compared by shifting: this runs on every connect (docs/egress.md).
_NAT64_WELL_KNOWN = 0x0064_FF9B << 64  # 64:ff9b::/96, top 96 bits
_NAT64_LOCAL_USE = 0x0064_FF9B_0001  # 64:ff9b:1::/48, top 48 bits
_IPV4_TRANSLATED = 0xFFFF_0000  # ::ffff:0:0:0/96, top 96 bits
_SIXTOFOUR = 0x2002  # 2002::/16, top 16 bits
_TEREDO = 0x2001_0000  # 2001::/32, top 32 bits
# Where RFC 6052 puts the IPv4 octets for each NAT64 prefix length a local-use prefix may have.
_RFC6052_OCTETS = ((6, 7, 9, 10), (7, 9, 10, 11), (9, 10, 11, 12), (12, 13, 14, 15))


def embedded_ipv4s(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address an IPv6 address may carry (translated, compatible, NAT64, 6to4, Teredo).

    A local-use NAT64 address yields one candidate per RFC 6052 layout: which one the network uses
    is not visible in the address. IPv4-mapped addresses are unwrapped, not listed, here.
    """
    if address.version == 4:
        return ()
    value = int(address)
    top96 = value >> 32
    if top96 in (_NAT64_WELL_KNOWN, _IPV4_TRANSLATED) or (top96 == 0 and value > 1):
        # ::/96 is IPv4-compatible, except :: and ::1, which are themselves
        return (ipaddress.IPv4Address(value & 0xFFFFFFFF),)
    if value >> 80 == _NAT64_LOCAL_USE:
        packed = address.packed
        return tuple(ipaddress.IPv4Address(bytes(packed[i] for i in octets)) for octets in _RFC6052_OCTETS)
    if value >> 112 == _SIXTOFOUR:
        return (ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF),)
    if value >> 96 == _TEREDO:
        return (ipaddress.IPv4Address((value >> 64) & 0xFFFFFFFF), ipaddress.IPv4Address(~value & 0xFFFFFFFF))
    return ()


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
        """Allowed if the address, and every IPv4 address it carries, passes the lists and the table.

        Behind a NAT64 gateway 64:ff9b::10.0.0.1 reaches 10.0.0.1, so both must be allowed.
        """
        address = unwrap_mapped(address)
        if not self._single_address_allowed(address):
            return False
        return all(self._single_address_allowed(inner) for inner in embedded_ipv4s(address))

    def address_deny_listed(self, address: IPAddress) -> bool:
        """True if the address, or an IPv4 address it carries, is in a deny-listed network."""
        address = unwrap_mapped(address)
        return any(self._deny_listed(candidate) for candidate in (address, *embedded_ipv4s(address)))

    def refusal_reason(self, address: IPAddress) -> str:
        """Why address_allowed refuses the address, naming the table block (for errors and logs)."""
        address = unwrap_mapped(address)
        for candidate in (address, *embedded_ipv4s(address)):
            if self._deny_listed(candidate):
                return f"{candidate} is deny-listed"
            block = most_specific_block(candidate)
            if not self._single_address_allowed(candidate) and block is not None:
                return f"{candidate} is in {block.describe()}, which is not globally reachable"
        return f"{address} is allowed"

    def host_refusal_reason(self, host: str) -> str:
        """Why host_verdict denies the host (for errors and logs)."""
        try:
            name = normalise_host(host)
        except InvalidHost as error:
            return str(error)
        address = parse_ip(name)
        if address is not None:
            return self.refusal_reason(address)
        if name in self.deny_hosts:
            return f"{name} is deny-listed"
        return f"{name} is always loopback (RFC 6761)"

    def _deny_listed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.deny_networks)

    def _single_address_allowed(self, address: IPAddress) -> bool:
        if self.deny_networks and self._deny_listed(address):
            return False
        if self.allow_networks and any(address in network for network in self.allow_networks):
            return True
        if self.dev_mode and any(address in network for network in _LOOPBACK):
            return True
        return is_globally_reachable(address)

    def host_verdict(self, host: str) -> HostVerdict:
        """Judge a host from its name or literal alone; a host with no IDNA form is denied."""
        try:
            name = normalise_host(host)
        except InvalidHost:
            return HostVerdict.DENIED
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
        if self.dev_mode:
            return True
        try:
            name = normalise_host(host)
        except InvalidHost:
            return False
        address = parse_ip(name)
        if address is None:
            return name in self.allow_hosts
        return any(address in network for network in self.allow_networks)


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
