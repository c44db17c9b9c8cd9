"""Name resolution behind one seam: the system resolver, pinned names, or pins alone (no DNS at all).

Every resolver reads a host name the way the HTTP client does (IDNA / UTS 46, ``normalise_host``), so
a pin or a lookup never targets a different name than the one connected to (docs/egress.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from typing import Protocol

from callout.domain.egress import InvalidHost, IPAddress, normalise_host

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
            # getaddrinfo would encode a non-ASCII name with IDNA 2003 (faß.de -> fass.de), not UTS 46.
            name = host if host.isascii() else normalise_host(host)
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError, UnicodeError, InvalidHost):
            return None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


class StaticResolver:
    """A fixed hosts table, for tests and for operators who pin names; unknown names do not resolve."""

    def __init__(self, table: Mapping[str, list[str]] | None = None) -> None:
        self._table = {
            normalise_host(name): [ipaddress.ip_address(a) for a in addresses]
            for name, addresses in (table or {}).items()
        }

    async def resolve(self, host: str) -> list[IPAddress] | None:
        """Return the pinned addresses of the host, or None."""
        try:
            return self._table.get(normalise_host(host))
        except InvalidHost:
            return None


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
