"""Routing snapshots for host applications: which of their methods have request or response executions.

A host's middleware asks for the conditions that concern its service(s) and skips the Dispatch round
trip for every request nothing matches (docs/host-middleware.md). The snapshot carries the
instance's routing version, which every target or execution change bumps in its own transaction
(services/routing.py); a caller that already holds version V may wait until it moves (a long poll),
so a change reaches every host replica within about ``VERSION_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass

from callout.domain.auth import Principal
from callout.domain.targets import stops_calls
from callout.engine.router import RoutedTarget
from callout.services.context import ServiceContext
from callout.storage import instances as instance_store

VERSION_POLL_SECONDS = 0.2
MAX_WAIT_SECONDS = 10.0
ROUTED_KINDS = ("request", "response")


@dataclass(frozen=True)
class RoutingSnapshot:
    """The request/response execution ids of some services (``request``, ``request/svc``,
    ``request/svc/Method``…) with whether a target of each chain interrupts on error."""

    version: int
    executions: dict[str, bool]


async def routing_snapshot(
    context: ServiceContext, principal: Principal, services: Collection[str], known_version: int | None, wait: float
) -> RoutingSnapshot:
    """The snapshot of ``services``; if ``known_version`` is current, first wait up to ``wait`` s for a change."""
    version = principal.routing_version
    if known_version is not None and known_version == version and wait > 0:
        version = await _wait_for_change(context, principal.instance_id, known_version, min(wait, MAX_WAIT_SECONDS))
    router = await context.routers.router_for(principal.instance_id, version)
    executions = {
        execution_id: _interrupts(chain)
        for execution_id, chain in router.chains().items()
        if _concerns(execution_id, services)
    }
    return RoutingSnapshot(router.version, executions)


async def _wait_for_change(context: ServiceContext, instance_id: str, known: int, wait: float) -> int:
    # Polling the one-row version is cheap on both databases and works across replicas (no NOTIFY on SQLite).
    deadline = time.monotonic() + wait
    while True:
        async with context.database.read() as conn:
            version = await instance_store.routing_version_of(conn, instance_id)
        remaining = deadline - time.monotonic()
        if version != known or remaining <= 0:
            return version
        await asyncio.sleep(min(VERSION_POLL_SECONDS, remaining))


def _concerns(execution_id: str, services: Collection[str]) -> bool:
    kind, _, rest = execution_id.partition("/")
    if kind not in ROUTED_KINDS:
        return False
    service = rest.strip("/").split("/")[0]
    return not service or service in services


def _interrupts(chain: tuple[RoutedTarget, ...]) -> bool:
    return any(stops_calls(r.target.interrupt_on_error, r.target.target_type) for r in chain)
