"""Endpoint checks against the egress policy at CreateTarget/UpdateTarget, with a resolver seam.

A name that does not resolve (yet) is accepted: a target may be registered before its DNS exists,
and the policy is enforced again on every connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from callout.domain.egress import EgressPolicy, HostVerdict, IPAddress
from callout.errors import InvalidArgument

RESOLVE_TIMEOUT_SECONDS = 2.0


class Resolver(Protocol):
    """Turns a host name into its addresses; None when it does not resolve."""

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the host's addresses, or None."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), bounded by a timeout."""

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the addresses getaddrinfo gives, or None on failure or timeout."""
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError, UnicodeError):
            return None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


class StaticResolver:
    """A fixed hosts table, for tests and for operators who pin names; unknown names do not resolve."""

    def __init__(self, table: Mapping[str, list[str]] | None = None) -> None:
        self._table = {
            name.lower(): [ipaddress.ip_address(a) for a in addresses] for name, addresses in (table or {}).items()
        }

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the pinned addresses of the host, or None."""
        return self._table.get(host.lower().rstrip("."))


class PinnedResolver:
    """Pinned addresses first, then another resolver for every other name."""

    def __init__(self, pins: StaticResolver, fallback: Resolver) -> None:
        self._pins = pins
        self._fallback = fallback

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the pinned addresses, else whatever the fallback resolves."""
        return await self._pins.resolve(host) or await self._fallback.resolve(host)


def build_resolver(pins: Mapping[str, list[str]], mode: str) -> Resolver:
    """The resolver settings ask for: pins alone ("static") or pins before the system resolver."""
    static = StaticResolver(pins)
    return static if mode == "static" else PinnedResolver(static, SystemResolver())


async def check_endpoint(policy: EgressPolicy, resolver: Resolver, endpoint: str) -> None:
    """Raise DeniedURL if the policy forbids the endpoint's scheme, host or resolved addresses."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.scheme == "http" and not policy.plain_http_allowed(host):
        raise _denied("plain http is only allowed to allow-listed hosts; use https")
    verdict = policy.host_verdict(host)
    if verdict is HostVerdict.DENIED:
        raise _denied("the endpoint's host is not an allowed destination")
    if verdict is HostVerdict.RESOLVE:
        addresses = await resolver.resolve(host) or []
        if any(not policy.address_allowed(address) for address in addresses):
            raise _denied("the endpoint's host resolves to an address that is not allowed")


def _denied(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Target.DeniedURL", detail)
