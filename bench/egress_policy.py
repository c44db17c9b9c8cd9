"""What the egress policy costs per new connection, as ratios against ``ipaddress``'s own ``is_global``.

Measures, alternating in blocks so that machine noise hits all alike: ``is_global`` (baseline, the
flag the policy used before it had its own table) against ``EgressPolicy.address_allowed`` with the
default policy, and the pinned-name ``StaticResolver`` (baseline) against ``PolicyResolver`` wrapping
it (what aiohttp awaits on every new connection: host check, lookup, address filter). Nothing here
asserts a timing.

    .venv/bin/python bench/egress_policy.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable

from callout.delivery.egress import PolicyResolver
from callout.delivery.resolvers import StaticResolver
from callout.domain.egress import EgressPolicy

ADDRESSES = [
    ipaddress.ip_address(text)
    for text in ("93.184.215.14", "10.0.0.1", "2606:2800:220:1::1", "::ffff:93.184.215.14", "64:ff9b::5db8:d70e")
]
BLOCK = 2_000


def _time_block(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(BLOCK):
        work()
    return (time.perf_counter() - started) / BLOCK


def main() -> None:
    """Run the alternating blocks and print per-call microseconds and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    policy = EgressPolicy()
    pins = StaticResolver({"hooks.example": [str(address) for address in ADDRESSES]})
    resolver = PolicyResolver(policy, pins)
    loop = asyncio.new_event_loop()
    cases: dict[str, Callable[[], object]] = {
        "is_global": lambda: [a.is_global for a in ADDRESSES],
        "address_allowed": lambda: [policy.address_allowed(a) for a in ADDRESSES],
        "StaticResolver.resolve": lambda: loop.run_until_complete(pins.resolve("hooks.example")),
        "PolicyResolver.resolve": lambda: loop.run_until_complete(
            resolver.resolve("hooks.example", 443, socket.AF_UNSPEC)
        ),
    }
    totals = dict.fromkeys(cases, 0.0)
    for _ in range(rounds):
        for name, work in cases.items():
            totals[name] += _time_block(work)
    loop.close()
    for name, baseline in (("address_allowed", "is_global"), ("PolicyResolver.resolve", "StaticResolver.resolve")):
        for case in (baseline, name):
            micros = totals[case] / rounds * 1e6
            print(f"{case:24} {micros:8.2f} us per call of 5 addresses  {totals[case] / totals[baseline]:5.2f}x")


if __name__ == "__main__":
    main()
