"""Execution use cases: SetExecution, ListExecutions, the catalog lists and host registrations.

See docs/behaviour.md, Executions and conditions.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from callout.domain.auth import Principal
from callout.domain.catalog import Catalog, validate_method_name
from callout.domain.executions import Condition, Execution, ExecutionQuery, validate_condition
from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth
from callout.domain.queries import Page
from callout.errors import InvalidArgument, NotFound
from callout.services.context import ServiceContext
from callout.services.events import record_change
from callout.storage import executions as store
from callout.storage import targets as target_store
from callout.storage.database import Connection
from callout.storage.instances import lock_instance, lock_routing


async def set_execution(
    context: ServiceContext, principal: Principal, condition: Condition, target_ids: list[str]
) -> datetime:
    """Bind the targets, in order, to the condition; an empty list removes the execution."""
    validate_condition(condition)

    async def bind(conn: Connection) -> datetime:
        # The routing lock first: what is read below is what the previous writer committed.
        await lock_routing(conn, principal.instance_id)
        (await instance_catalog(context, conn, principal.instance_id)).require(condition)
        await _require_targets(conn, principal.instance_id, target_ids)
        current = await store.find_execution(conn, principal.instance_id, condition.execution_id)
        if current is not None and list(current.targets) == target_ids:
            return current.change_date  # the identical list again: a no-op, as in ZITADEL
        now = context.clock.now()
        if current is None and not target_ids:
            return now
        await _write(conn, principal, condition.execution_id, target_ids, now)
        return now

    return await context.database.write(bind)


async def _write(
    conn: Connection, principal: Principal, execution_id: str, target_ids: list[str], now: datetime
) -> None:
    if target_ids:
        await store.save_execution(conn, principal.instance_id, execution_id, target_ids, now)
        payload = {"targets": [{"type": 2, "target": target_id} for target_id in target_ids]}
        await record_change(conn, principal, ("execution", execution_id), "execution.v2.set", payload, now)
    else:
        await store.remove_execution(conn, principal.instance_id, execution_id)
        await record_change(conn, principal, ("execution", execution_id), "execution.removed", {}, now)
    await store.bump_routing_version(conn, principal.instance_id)


async def _require_targets(conn: Connection, instance_id: str, target_ids: list[str]) -> None:
    # A duplicated id is NotFound too, as in ZITADEL (COMMAND-17e8fq1ggk).
    found = await target_store.find_targets(conn, instance_id, target_ids)
    if len(set(target_ids)) != len(target_ids) or any(target_id not in found for target_id in target_ids):
        raise NotFound("Errors.Target.NotFound", "a target does not exist or is listed twice")


async def list_executions(context: ServiceContext, principal: Principal, query: ExecutionQuery) -> Page[Execution]:
    """Return one page of the instance's executions with at least one target."""
    query.pagination.applied_limit  # noqa: B018 - raises LimitExceeded before touching the database
    async with context.database.read() as conn:
        return await store.list_executions(conn, principal.instance_id, query)


async def instance_catalog(context: ServiceContext, conn: Connection, instance_id: str) -> Catalog:
    """The built-in and configured catalog plus what host applications registered for the instance."""
    entries = await store.catalog_of(conn, instance_id)
    return context.catalog.merged(entries.get("method", ()), entries.get("function", ()), entries.get("event", ()))


async def catalog_for(context: ServiceContext, principal: Principal) -> Catalog:
    """The catalog the caller's instance sees."""
    async with context.database.read() as conn:
        return await instance_catalog(context, conn, principal.instance_id)


async def register_catalog(
    context: ServiceContext, principal: Principal, methods: list[str], functions: list[str], events: list[str]
) -> None:
    """Add host-application methods, functions and event types to the instance's catalog, within its caps."""
    entries = (("method", methods), ("function", functions), ("event", events))
    for kind, names in entries:
        context.catalog_limits.check_call(kind, len(set(names)))
    _validate_entries(methods, functions, events)
    now = context.clock.now()

    async def register(conn: Connection) -> None:
        # The instance lock makes concurrent registrations count each other's entries against the caps.
        await lock_instance(conn, principal.instance_id)
        for kind, names in entries:
            known = await store.catalog_names(conn, principal.instance_id, kind)
            new = [name for name in dict.fromkeys(names) if name not in known]
            context.catalog_limits.check_total(kind, len(known) + len(new))
            await store.add_catalog_entries(conn, principal.instance_id, kind, new, now)

    await context.database.write(register)


def catalog_from_file(base: Catalog, path: Path) -> Catalog:
    """The catalog with a host application's entries from a JSON file ``{methods, functions, events}``."""
    try:
        text = path.read_text()
        if exceeds_json_depth(text):  # parsing it could exhaust the stack; a catalog is three flat lists
            raise ValueError(f"it nests more than {MAX_JSON_DEPTH} levels deep")
        entries = json.loads(text)
    except (OSError, ValueError) as error:
        raise InvalidArgument("Errors.Catalog.File", f"cannot read catalog file {path}: {error}") from error
    methods, functions, events = (_string_list(entries, key, path) for key in ("methods", "functions", "events"))
    _validate_entries(methods, functions, events)
    return base.merged(methods, functions, events)


def _string_list(entries: object, key: str, path: Path) -> list[str]:
    value = entries.get(key, []) if isinstance(entries, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument("Errors.Catalog.File", f"{path}: {key!r} must be a list of strings in a JSON object")
    return value


def _validate_entries(methods: list[str], functions: list[str], events: list[str]) -> None:
    bad_method = next((method for method in methods if not validate_method_name(method)), None)
    if bad_method is not None:
        raise InvalidArgument(
            "Errors.Catalog.InvalidMethod", f"methods look like /package.Service/Method: {bad_method[:100]!r}"
        )
    for name in [*functions, *events]:
        if not name or len(name) > 200 or "/" in name or name.endswith("*") or not name.isprintable():
            raise InvalidArgument("Errors.Catalog.InvalidName", f"invalid function or event name {name[:100]!r}")
