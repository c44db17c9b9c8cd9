"""The egress (SSRF) policy at send time: a URL pre-check and an aiohttp resolver that yields only allowed addresses.

This module is the security boundary; the create-time check (``services/egress.py``) runs the same
URL pre-check on the same parse, so a URL stored is judged exactly as it will be connected to. Two
gates, because aiohttp consults its resolver only for host *names* (docs/egress.md):

* ``check_url`` runs before aiohttp sees the request, on the ``yarl.URL`` aiohttp connects with (its
  host already IDNA / UTS 46 mapped: ``１２７.０.０.１`` is ``127.0.0.1`` there). It refuses other
  schemes, plain http to hosts the policy does not allow it for, deny-listed and ``localhost`` names,
  IP literals the policy denies and every non-canonical IPv4 spelling (``127.1``, ``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.0.0.1.``). Those spellings are refused outright rather than
  interpreted: libraries disagree about them (aiohttp rejects all-digit ones, passes hex ones on to
  its resolver; ``inet_aton`` reads ``010.0.0.1`` as 8.0.0.1, others as 10.0.0.1), so the only safe
  reading is none.
* ``PolicyResolver`` is what aiohttp calls for every new connection to a name. It resolves through our
  ``Resolver`` seam and returns only the addresses the policy allows, so a name that resolved to a
  public address when the target was created and to 127.0.0.1 now (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from callout.delivery.resolvers import Resolver
from callout.delivery.sender import EgressDenied
from callout.domain.egress import (
    EgressPolicy,
    HostVerdict,
    InvalidHost,
    IPAddress,
    normalise_host,
    parse_ip,
    unwrap_mapped,
)

SCHEMES = frozenset({"http", "https"})


class EgressBlocked(EgressDenied):
    """The policy refused a call; ``rule`` names the gate that refused it (a low-cardinality label)."""

    def __init__(self, host: str, rule: str, detail: str) -> None:
        super().__init__(f"egress to {host!r} denied: {detail}")
        self.host = host
        self.rule = rule
        self.detail = detail


class UnreadableURL(ValueError):
    """A URL the HTTP client cannot read, typically a host IDNA (UTS 46) cannot map."""


def client_url(raw_url: str) -> yarl.URL:
    """The URL exactly as aiohttp reads it (host IDNA-mapped, IPv6 compressed); UnreadableURL if it cannot."""
    try:
        return yarl.URL(raw_url)
    except (ValueError, TypeError, IndexError) as error:  # yarl raises IndexError on "https://[]@/"
        raise UnreadableURL("the HTTP client cannot read this URL (is its host a valid IDNA name?)") from error


def check_url(policy: EgressPolicy, url: yarl.URL) -> None:
    """Raise EgressBlocked unless the URL's scheme and host may be called before any resolution."""
    host = url.raw_host or ""
    if url.scheme not in SCHEMES or not host:
        raise EgressBlocked(host, "scheme", "only http and https URLs with a host are allowed")
    if url.scheme == "http" and not policy.plain_http_allowed(host):
        raise EgressBlocked(host, "plain_http", "plain http is only allowed to allow-listed hosts")
    _check_host(policy, host)


def _check_host(policy: EgressPolicy, host: str) -> None:
    literal = _literal(host)
    if literal is not None and not _canonical_literal(host):
        raise EgressBlocked(host, "ambiguous_literal", "IP addresses must be written in canonical form")
    if policy.host_verdict(host) is HostVerdict.DENIED:
        reason = policy.host_refusal_reason(host)
        raise EgressBlocked(host, "host", f"the host is not an allowed destination: {reason}")


def _literal(host: str) -> IPAddress | None:
    try:
        return parse_ip(normalise_host(host))
    except InvalidHost:
        return None  # host_verdict denies it


def _canonical_literal(host: str) -> bool:
    # Dotted-quad IPv4 or bracket-free IPv6 exactly as written: what every parser reads the same way.
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def permitted_addresses(policy: EgressPolicy, host: str, addresses: Sequence[IPAddress]) -> list[IPAddress]:
    """The addresses of ``host`` that may be connected to, IPv4-mapped IPv6 unwrapped, in their order.

    A name the operator allow-listed may use any address that is not deny-listed (that is how an
    in-cluster target is admitted); any other name only the addresses the policy allows.
    """
    unwrapped = [unwrap_mapped(address) for address in addresses]
    if policy.host_verdict(host) is HostVerdict.ALLOWED and _literal(host) is None:
        return [a for a in unwrapped if not policy.address_deny_listed(a)]
    return [a for a in unwrapped if policy.address_allowed(a)]


class PolicyResolver(AbstractResolver):
    """An aiohttp resolver that resolves through our Resolver seam and drops every denied address.

    Raises EgressBlocked when the name resolves but no address is allowed, and an OSError (which
    aiohttp reports as a DNS failure) when it does not resolve at all.
    """

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the allowed addresses of ``host`` for ``family`` (AF_UNSPEC: both)."""
        _check_host(self._policy, host)
        addresses = await self._lookup(host)
        allowed = [a for a in permitted_addresses(self._policy, host, addresses) if _in_family(a, family)]
        if not allowed:
            raise EgressBlocked(host, "address", "the host resolves to no allowed address")
        return [_result(host, address, port) for address in allowed]

    async def close(self) -> None:
        """Nothing to release: the Resolver seam owns no connections."""

    async def _lookup(self, host: str) -> list[IPAddress]:
        literal = _literal(host)
        if literal is not None:  # a canonical literal aiohttp did not recognise as one
            return [literal]
        addresses = await self._resolver.resolve(host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} does not resolve")
        return addresses


def _in_family(address: IPAddress, family: int) -> bool:
    return family == socket.AF_UNSPEC or _family_of(address) == family


def _family_of(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET if address.version == 4 else socket.AF_INET6


def _result(host: str, address: IPAddress, port: int) -> ResolveResult:
    return ResolveResult(
        hostname=host,
        host=str(address),
        port=port,
        family=_family_of(address),
        proto=0,
        flags=0,
    )
