"""Execution statements: ordered targets per condition id, listing, routing data, host catalog entries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.executions import Execution, ExecutionQuery, ExecutionSortField, type_prefix
from callout.domain.queries import Page
from callout.storage.schema import catalog_entries, execution_targets, executions, instances

_SORT_COLUMNS = {
    ExecutionSortField.UNSPECIFIED: executions.c.created_at,
    ExecutionSortField.CREATED_DATE: executions.c.created_at,
    ExecutionSortField.ID: executions.c.id,
    ExecutionSortField.CHANGED_DATE: executions.c.changed_at,
}


async def find_execution(conn: AsyncConnection, instance_id: str, execution_id: str) -> Execution | None:
    """Return the execution with its targets in order, or None if it has no targets."""
    found = await _with_targets(conn, instance_id, [execution_id])
    return found[0] if found else None


async def save_execution(
    conn: AsyncConnection, instance_id: str, execution_id: str, target_ids: list[str], now: datetime
) -> None:
    """Store the execution's target list, keeping its creation date if it existed."""
    # An upsert: two writers racing to create one execution both succeed, the second as an update,
    # and its row lock keeps the second one's target list out until the first commits.
    row = {"instance_id": instance_id, "id": execution_id, "created_at": to_micros(now), "changed_at": to_micros(now)}
    upsert = _insert(conn, executions).values(row)
    await conn.execute(
        upsert.on_conflict_do_update(index_elements=["instance_id", "id"], set_={"changed_at": to_micros(now)})
    )
    await _delete_targets(conn, instance_id, execution_id)
    rows = [
        {"instance_id": instance_id, "execution_id": execution_id, "position": index, "target_id": target_id}
        for index, target_id in enumerate(target_ids, start=1)
    ]
    await conn.execute(execution_targets.insert(), rows)


async def remove_execution(conn: AsyncConnection, instance_id: str, execution_id: str) -> None:
    """Delete the execution and its target list."""
    await _delete_targets(conn, instance_id, execution_id)
    await conn.execute(
        executions.delete().where(executions.c.instance_id == instance_id, executions.c.id == execution_id)
    )


async def _delete_targets(conn: AsyncConnection, instance_id: str, execution_id: str) -> None:
    await conn.execute(
        execution_targets.delete().where(
            execution_targets.c.instance_id == instance_id, execution_targets.c.execution_id == execution_id
        )
    )


async def remove_target_everywhere(conn: AsyncConnection, instance_id: str, target_id: str) -> None:
    """Take a deleted target out of every execution; executions left without targets are removed."""
    await conn.execute(
        execution_targets.delete().where(
            execution_targets.c.instance_id == instance_id, execution_targets.c.target_id == target_id
        )
    )
    has_targets = sa.exists().where(
        execution_targets.c.instance_id == executions.c.instance_id,
        execution_targets.c.execution_id == executions.c.id,
    )
    await conn.execute(executions.delete().where(executions.c.instance_id == instance_id, ~has_targets))


async def list_executions(conn: AsyncConnection, instance_id: str, query: ExecutionQuery) -> Page[Execution]:
    """Return one page of the instance's executions that have at least one target."""
    limit = query.pagination.applied_limit
    conditions = _list_conditions(instance_id, query)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(executions).where(*conditions))).scalar_one()
    column = _SORT_COLUMNS[query.sort]
    order = [column.asc(), executions.c.id.asc()] if query.pagination.asc else [column.desc(), executions.c.id.desc()]
    select = sa.select(executions.c.id).where(*conditions).order_by(*order)
    ids = list((await conn.execute(select.offset(query.pagination.applied_offset).limit(limit))).scalars())
    by_id = {execution.id: execution for execution in await _with_targets(conn, instance_id, ids)}
    return Page(tuple(by_id[execution_id] for execution_id in ids), total, limit)


def _list_conditions(instance_id: str, query: ExecutionQuery) -> list[sa.ColumnElement[bool]]:
    has_targets = sa.exists().where(
        execution_targets.c.instance_id == executions.c.instance_id,
        execution_targets.c.execution_id == executions.c.id,
    )
    conditions: list[sa.ColumnElement[bool]] = [executions.c.instance_id == instance_id, has_targets]
    conditions += [executions.c.id.in_(ids) for ids in query.id_filters]
    for execution_type in query.type_filters:
        prefix = type_prefix(execution_type)
        if prefix is not None:
            conditions.append(sa.or_(executions.c.id == prefix, executions.c.id.startswith(prefix + "/")))
    for target_id in query.target_filters:
        conditions.append(
            sa.exists().where(
                execution_targets.c.instance_id == executions.c.instance_id,
                execution_targets.c.execution_id == executions.c.id,
                execution_targets.c.target_id == target_id,
            )
        )
    return conditions


async def _with_targets(conn: AsyncConnection, instance_id: str, ids: list[str]) -> list[Execution]:
    if not ids:
        return []
    query = (
        sa.select(executions, execution_targets.c.target_id)
        .join(
            execution_targets,
            sa.and_(
                execution_targets.c.instance_id == executions.c.instance_id,
                execution_targets.c.execution_id == executions.c.id,
            ),
        )
        .where(executions.c.instance_id == instance_id, executions.c.id.in_(ids))
        .order_by(executions.c.id, execution_targets.c.position)
    )
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in await conn.execute(query):
        grouped[row.id].append(row)
    return [_execution(rows) for rows in grouped.values()]


def _execution(rows: list[Any]) -> Execution:
    first = rows[0]
    return Execution(
        id=first.id,
        instance_id=first.instance_id,
        targets=tuple(row.target_id for row in rows),
        creation_date=from_micros(first.created_at),
        change_date=from_micros(first.changed_at),
    )


async def all_routes(conn: AsyncConnection, instance_id: str, kind: str | None = None) -> dict[str, list[str]]:
    """Every execution id (of one condition type if given) with its target ids in order (for routing)."""
    query = (
        sa.select(execution_targets.c.execution_id, execution_targets.c.target_id)
        .where(execution_targets.c.instance_id == instance_id)
        .order_by(execution_targets.c.execution_id, execution_targets.c.position)
    )
    if kind is not None:
        ids = execution_targets.c.execution_id
        query = query.where(sa.or_(ids == kind, ids.startswith(kind + "/")))
    routes: dict[str, list[str]] = defaultdict(list)
    for row in await conn.execute(query):
        routes[row.execution_id].append(row.target_id)
    return dict(routes)


async def bump_routing_version(conn: AsyncConnection, instance_id: str) -> None:
    """Mark the instance's routing data changed, in the caller's transaction."""
    await conn.execute(
        instances.update().where(instances.c.id == instance_id).values(routing_version=instances.c.routing_version + 1)
    )


async def add_catalog_entries(
    conn: AsyncConnection, instance_id: str, kind: str, names: list[str], now: datetime
) -> None:
    """Register host-application methods, functions or event types not registered yet (see catalog_names)."""
    rows = [{"instance_id": instance_id, "kind": kind, "name": name, "created_at": to_micros(now)} for name in names]
    if rows:
        # A concurrent registration of the same names is no error: the entry exists either way.
        await conn.execute(_insert(conn, catalog_entries).on_conflict_do_nothing(), rows)


def _insert(conn: AsyncConnection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the database's ON CONFLICT clauses (both spell them the same)."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


async def catalog_names(conn: AsyncConnection, instance_id: str, kind: str) -> set[str]:
    """The names of one kind the instance registered."""
    query = sa.select(catalog_entries.c.name).where(
        catalog_entries.c.instance_id == instance_id, catalog_entries.c.kind == kind
    )
    return set((await conn.execute(query)).scalars())


async def catalog_of(conn: AsyncConnection, instance_id: str) -> dict[str, list[str]]:
    """The instance's registered entries by kind (``method``, ``function``, ``event``)."""
    query = sa.select(catalog_entries.c.kind, catalog_entries.c.name).where(
        catalog_entries.c.instance_id == instance_id
    )
    entries: dict[str, list[str]] = defaultdict(list)
    for row in await conn.execute(query):
        entries[row.kind].append(row.name)
    return dict(entries)
