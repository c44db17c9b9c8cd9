"""Names of the targets a page refers to, read by id without listing the instance's targets.

The console's Executions and Deliveries pages show target names for the few ids on screen; listing
every target for that cost grew with the instance (docs/console.md, Performance).
"""

from __future__ import annotations

from collections.abc import Iterable

from callout.domain.auth import Permission, Principal
from callout.domain.targets import TargetLabel
from callout.services.auth import authorize
from callout.services.context import ServiceContext
from callout.storage import targets as store

# As many ids as one page may name: the Executions page's 1,000 executions, each with a few targets.
MAX_IDS = 10_000


async def target_labels(
    context: ServiceContext, principal: Principal, target_ids: Iterable[str]
) -> dict[str, TargetLabel]:
    """The caller's live targets among ``target_ids`` by id; needs the permission to read targets.

    Ids of deleted or other instances' targets are left out, so the page shows them as unknown.
    """
    authorize(principal, Permission.TARGET_READ)
    wanted = list(dict.fromkeys(target_ids))[:MAX_IDS]
    if not wanted:
        return {}
    async with context.database.read() as conn:
        return await store.target_labels(conn, principal.instance_id, wanted)


async def find_target(context: ServiceContext, principal: Principal, id_or_name: str) -> TargetLabel | None:
    """The caller's live target with this id, else the one with this name (ignoring case), else None."""
    authorize(principal, Permission.TARGET_READ)
    async with context.database.read() as conn:
        by_id = await store.target_labels(conn, principal.instance_id, [id_or_name])
        if by_id:
            return by_id[id_or_name]
        return await store.live_target_named(conn, principal.instance_id, id_or_name)
