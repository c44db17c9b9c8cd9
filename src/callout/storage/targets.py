"""Target and signing-key statements; every query is scoped to one instance."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.queries import Page, TargetQuery, TargetSortField, TextFilter, TextFilterMethod
from callout.domain.targets import PayloadType, Target, TargetLabel, TargetType, stops_calls
from callout.errors import AlreadyExists
from callout.storage.schema import signing_keys, targets

_SORT_COLUMNS = {
    TargetSortField.UNSPECIFIED: targets.c.created_at,
    TargetSortField.CREATED_DATE: targets.c.created_at,
    TargetSortField.ID: targets.c.id,
    TargetSortField.CHANGED_DATE: targets.c.changed_at,
    TargetSortField.NAME: targets.c.name,
    TargetSortField.TARGET_TYPE: targets.c.target_type,
    TargetSortField.URL: targets.c.endpoint,
    TargetSortField.TIMEOUT: targets.c.timeout_us,
    TargetSortField.INTERRUPT_ON_ERROR: targets.c.interrupt_on_error,
}


def _to_row(target: Target) -> dict[str, Any]:
    return {
        "id": target.id,
        "instance_id": target.instance_id,
        "name": target.name,
        "name_lower": target.name.lower(),
        "target_type": int(target.target_type),
        "interrupt_on_error": target.interrupt_on_error,
        "timeout_us": target.timeout // timedelta(microseconds=1),
        "endpoint": target.endpoint,
        "payload_type": int(target.payload_type),
        "created_at": to_micros(target.creation_date),
        "changed_at": to_micros(target.change_date),
    }


def _from_row(row: sa.Row[Any]) -> Target:
    return Target(
        id=row.id,
        instance_id=row.instance_id,
        name=row.name,
        target_type=TargetType(row.target_type),
        interrupt_on_error=bool(row.interrupt_on_error),
        timeout=timedelta(microseconds=row.timeout_us),
        endpoint=row.endpoint,
        payload_type=PayloadType(row.payload_type),
        creation_date=from_micros(row.created_at),
        change_date=from_micros(row.changed_at),
        deletion_date=None if row.deleted_at is None else from_micros(row.deleted_at),
    )


async def ensure_name_free(conn: AsyncConnection, target: Target) -> None:
    """Raise AlreadyExists if another live target of the instance has this name, ignoring case."""
    query = sa.select(targets.c.id).where(
        targets.c.instance_id == target.instance_id,
        targets.c.name_lower == target.name.lower(),
        targets.c.deleted_at.is_(None),
        targets.c.id != target.id,
    )
    if (await conn.execute(query)).first() is not None:
        raise AlreadyExists("Errors.Target.AlreadyExists", "a target with this name exists")


async def insert_target(conn: AsyncConnection, target: Target) -> None:
    """Store a new target; a taken name is AlreadyExists."""
    await ensure_name_free(conn, target)
    await _execute_guarding_name(conn, targets.insert().values(_to_row(target)))


async def update_target(conn: AsyncConnection, target: Target) -> None:
    """Overwrite a live target's fields; a name taken by another target is AlreadyExists."""
    await ensure_name_free(conn, target)
    row = _to_row(target)
    del row["created_at"]
    await _execute_guarding_name(conn, targets.update().where(targets.c.id == target.id).values(row))


async def _execute_guarding_name(conn: AsyncConnection, statement: sa.Executable) -> None:
    # The pre-check above gives the common case a clear error; this covers two writers racing on
    # PostgreSQL, where only the unique index sees both.
    try:
        await conn.execute(statement)
    except sa.exc.IntegrityError as error:
        if "ux_targets_instance_name" in str(error.orig) or "name_lower" in str(error.orig):
            raise AlreadyExists("Errors.Target.AlreadyExists", "a target with this name exists") from error
        raise


async def mark_target_deleted(conn: AsyncConnection, target: Target, when: datetime) -> None:
    """Soft-delete a target so that a repeated delete can report the first deletion date."""
    await conn.execute(targets.update().where(targets.c.id == target.id).values(deleted_at=to_micros(when)))


async def find_target(
    conn: AsyncConnection,
    instance_id: str,
    target_id: str,
    *,
    include_deleted: bool = False,
) -> Target | None:
    """Return the instance's target with this id, or None."""
    query = sa.select(targets).where(targets.c.instance_id == instance_id, targets.c.id == target_id)
    if not include_deleted:
        query = query.where(targets.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    return None if row is None else _from_row(row)


async def list_targets(
    conn: AsyncConnection, instance_id: str, query: TargetQuery, *, with_total: bool = True
) -> Page[Target]:
    """Return one page of the instance's live targets matching every filter.

    Without ``with_total`` the matches are not counted: the page's total is then the offset plus the
    rows found up to one past the page, so it exceeds the page's end exactly when more follow.
    """
    limit = query.pagination.applied_limit
    conditions = [targets.c.instance_id == instance_id, targets.c.deleted_at.is_(None)]
    conditions += [_text_condition(targets.c.name, f) for f in query.name_filters]
    conditions += [targets.c.id.in_(ids) for ids in query.id_filters]
    column = _SORT_COLUMNS[query.sort]
    order = [column.asc(), targets.c.id.asc()] if query.pagination.asc else [column.desc(), targets.c.id.desc()]
    select = sa.select(targets).where(*conditions).order_by(*order).offset(query.pagination.applied_offset)
    if not with_total:
        rows = list(await conn.execute(select.limit(limit + 1)))
        return Page(tuple(_from_row(row) for row in rows[:limit]), query.pagination.applied_offset + len(rows), limit)
    total = (await conn.execute(sa.select(sa.func.count()).where(*conditions))).scalar_one()
    rows = list(await conn.execute(select.limit(limit)))
    return Page(tuple(_from_row(row) for row in rows), total, limit)


def _text_condition(column: sa.ColumnElement[str], text_filter: TextFilter) -> sa.ColumnElement[bool]:
    value = text_filter.value
    if text_filter.method.ignores_case:
        column, value = sa.func.lower(column), value.lower()
    method = TextFilterMethod(text_filter.method - (text_filter.method % 2))
    if method is TextFilterMethod.EQUALS:
        return column == value
    pattern = _escape_like(value)
    if method is TextFilterMethod.STARTS_WITH:
        like, exact = column.like(pattern + "%", escape="\\"), sa.func.substr(column, 1, len(value)) == value
    elif method is TextFilterMethod.ENDS_WITH:
        start = sa.func.length(column) - len(value) + 1
        like, exact = column.like("%" + pattern, escape="\\"), sa.func.substr(column, start) == value
    else:
        like, exact = column.like("%" + pattern + "%", escape="\\"), sa.func.replace(column, value, "") != column
    # SQLite's LIKE ignores ASCII case; the exact comparison restores case sensitivity there.
    return like if text_filter.method.ignores_case or not value else sa.and_(like, exact)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def insert_signing_key(
    conn: AsyncConnection, key_id: str, target: Target, encrypted_secret: str, created: datetime
) -> None:
    """Store a new (encrypted) signing key for a target."""
    values = {
        "id": key_id,
        "instance_id": target.instance_id,
        "target_id": target.id,
        "secret": encrypted_secret,
        "created_at": to_micros(created),
        "expires_at": None,
    }
    await conn.execute(signing_keys.insert().values(values))


async def expire_signing_keys(conn: AsyncConnection, target_id: str, at: datetime) -> None:
    """Make every key of the target expire at ``at`` unless it already expires earlier."""
    cutoff = to_micros(at)
    still_later = sa.or_(signing_keys.c.expires_at.is_(None), signing_keys.c.expires_at > cutoff)
    await conn.execute(
        signing_keys.update().where(signing_keys.c.target_id == target_id, still_later).values(expires_at=cutoff)
    )


async def valid_signing_secrets(conn: AsyncConnection, target_id: str, now: datetime) -> list[str]:
    """Return the encrypted secrets of the target's keys still valid at ``now``, newest first."""
    moment = to_micros(now)
    query = (
        sa.select(signing_keys.c.secret)
        .where(
            signing_keys.c.target_id == target_id,
            sa.or_(signing_keys.c.expires_at.is_(None), signing_keys.c.expires_at > moment),
        )
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.id.desc())
    )
    return list((await conn.execute(query)).scalars())


async def find_targets(conn: AsyncConnection, instance_id: str, target_ids: list[str]) -> dict[str, Target]:
    """Return the instance's live targets among these ids, by id."""
    if not target_ids:
        return {}
    query = sa.select(targets).where(
        targets.c.instance_id == instance_id, targets.c.id.in_(set(target_ids)), targets.c.deleted_at.is_(None)
    )
    return {row.id: _from_row(row) for row in await conn.execute(query)}


async def signing_secrets_of(
    conn: AsyncConnection, target_ids: list[str], now: datetime
) -> dict[str, list[tuple[str, datetime | None]]]:
    """The encrypted secrets of the targets' keys still valid at ``now`` with their expiry, newest first."""
    if not target_ids:
        return {}
    moment = to_micros(now)
    query = (
        sa.select(signing_keys.c.target_id, signing_keys.c.secret, signing_keys.c.expires_at)
        .where(
            signing_keys.c.target_id.in_(set(target_ids)),
            sa.or_(signing_keys.c.expires_at.is_(None), signing_keys.c.expires_at > moment),
        )
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.id.desc())
    )
    found: dict[str, list[tuple[str, datetime | None]]] = {}
    for row in await conn.execute(query):
        expiry = None if row.expires_at is None else from_micros(row.expires_at)
        found.setdefault(row.target_id, []).append((row.secret, expiry))
    return found


# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits on one statement.
_ID_CHUNK = 500


async def target_labels(conn: AsyncConnection, instance_id: str, target_ids: list[str]) -> dict[str, TargetLabel]:
    """The name and interrupt flag of each of the instance's live targets among ``target_ids``."""
    wanted = sorted(set(target_ids))
    found: dict[str, TargetLabel] = {}
    columns = (targets.c.id, targets.c.instance_id, targets.c.name, targets.c.target_type)
    for start in range(0, len(wanted), _ID_CHUNK):
        # Looked up by primary key alone: with instance_id in the WHERE clause SQLite walks the
        # instance's whole created-at index instead. The instance and deletion are checked below.
        query = sa.select(*columns, targets.c.interrupt_on_error, targets.c.deleted_at).where(
            targets.c.id.in_(wanted[start : start + _ID_CHUNK])
        )
        for row in await conn.execute(query):
            if row.instance_id == instance_id and row.deleted_at is None:
                interrupting = stops_calls(bool(row.interrupt_on_error), TargetType(row.target_type))
                found[row.id] = TargetLabel(row.id, row.name, interrupting)
    return found


async def live_target_named(conn: AsyncConnection, instance_id: str, name: str) -> TargetLabel | None:
    """The instance's live target with this name, ignoring case, or None."""
    query = sa.select(targets.c.id, targets.c.name, targets.c.interrupt_on_error, targets.c.target_type).where(
        targets.c.instance_id == instance_id,
        targets.c.name_lower == name.lower(),
        targets.c.deleted_at.is_(None),
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return TargetLabel(row.id, row.name, stops_calls(bool(row.interrupt_on_error), TargetType(row.target_type)))
