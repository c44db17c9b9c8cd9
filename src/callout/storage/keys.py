"""Target public keys and instance web keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.keys import PublicKey, PublicKeyQuery, PublicKeySortField, TimestampFilter, TimestampFilterMethod
from callout.domain.queries import Page
from callout.storage.schema import target_public_keys as keys
from callout.storage.schema import targets, web_keys

_SORT_COLUMNS = {
    PublicKeySortField.UNSPECIFIED: keys.c.created_at,
    PublicKeySortField.CREATION_DATE: keys.c.created_at,
    PublicKeySortField.CHANGE_DATE: keys.c.changed_at,
    PublicKeySortField.EXPIRATION_DATE: keys.c.expires_at,
}


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _key(row: sa.Row[Any]) -> PublicKey:
    return PublicKey(
        key_id=row.id,
        instance_id=row.instance_id,
        target_id=row.target_id,
        public_key_pem=row.public_key.encode(),
        fingerprint=row.fingerprint,
        active=bool(row.active),
        expiration_date=None if row.expires_at is None else from_micros(row.expires_at),
        creation_date=from_micros(row.created_at),
        change_date=from_micros(row.changed_at),
    )


async def insert_public_key(conn: AsyncConnection, key: PublicKey) -> None:
    """Store a new (inactive) public key."""
    await conn.execute(
        keys.insert().values(
            id=key.key_id,
            instance_id=key.instance_id,
            target_id=key.target_id,
            public_key=key.public_key_pem.decode(),
            fingerprint=key.fingerprint,
            active=key.active,
            expires_at=_micros(key.expiration_date),
            created_at=to_micros(key.creation_date),
            changed_at=to_micros(key.change_date),
        )
    )


async def find_public_key(
    conn: AsyncConnection, instance_id: str, target_id: str, key_id: str, *, for_update: bool = False
) -> PublicKey | None:
    """Return the target's key with this id, or None; ``for_update`` locks its row until commit."""
    query = sa.select(keys).where(keys.c.instance_id == instance_id, keys.c.target_id == target_id, keys.c.id == key_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _key(row)


async def set_active(conn: AsyncConnection, key: PublicKey, active: bool, now: datetime) -> None:
    """Activate (deactivating every other key of the target first) or deactivate one key."""
    if active:
        others = (keys.c.target_id == key.target_id, keys.c.id != key.key_id, keys.c.active.is_(True))
        await conn.execute(keys.update().where(*others).values(active=False, changed_at=to_micros(now)))
    await conn.execute(keys.update().where(keys.c.id == key.key_id).values(active=active, changed_at=to_micros(now)))


async def delete_public_key(conn: AsyncConnection, key: PublicKey) -> None:
    """Remove a key."""
    await conn.execute(keys.delete().where(keys.c.id == key.key_id))


async def list_public_keys(
    conn: AsyncConnection, instance_id: str, target_id: str, query: PublicKeyQuery
) -> Page[PublicKey]:
    """Return one page of the target's keys matching every filter."""
    limit = query.pagination.applied_limit
    live_target = sa.exists().where(targets.c.id == keys.c.target_id, targets.c.deleted_at.is_(None))
    conditions = [keys.c.instance_id == instance_id, keys.c.target_id == target_id, live_target]
    conditions += [keys.c.id.in_(ids) for ids in query.key_ids]
    conditions += [keys.c.active.is_(active) for active in query.active]
    conditions += [_expiration_condition(f) for f in query.expiration]
    total = (await conn.execute(sa.select(sa.func.count()).select_from(keys).where(*conditions))).scalar_one()
    column = _SORT_COLUMNS[query.sort]
    # Keys that never expire sort last ascending (first descending) on both databases, as in ZITADEL.
    ascending = [sa.nulls_last(column.asc()), keys.c.id.asc()]
    order = ascending if query.pagination.asc else [sa.nulls_first(column.desc()), keys.c.id.desc()]
    select = sa.select(keys).where(*conditions).order_by(*order)
    rows = await conn.execute(select.offset(query.pagination.applied_offset).limit(limit))
    return Page(tuple(_key(row) for row in rows), total, limit)


def _expiration_condition(timestamp_filter: TimestampFilter) -> sa.ColumnElement[bool]:
    value, column, method = to_micros(timestamp_filter.timestamp), keys.c.expires_at, timestamp_filter.method
    never = column.is_(None)
    comparisons = {
        TimestampFilterMethod.EQUALS: column == value,
        TimestampFilterMethod.AFTER: sa.or_(column > value, never),
        TimestampFilterMethod.AFTER_OR_EQUALS: sa.or_(column >= value, never),
        TimestampFilterMethod.BEFORE: column < value,
        TimestampFilterMethod.BEFORE_OR_EQUALS: column <= value,
    }
    return comparisons[method]


async def active_public_keys_of(conn: AsyncConnection, target_ids: list[str], now: datetime) -> dict[str, PublicKey]:
    """The unexpired active key of each of these targets that has one."""
    if not target_ids:
        return {}
    unexpired = sa.or_(keys.c.expires_at.is_(None), keys.c.expires_at > to_micros(now))
    query = sa.select(keys).where(keys.c.target_id.in_(set(target_ids)), keys.c.active.is_(True), unexpired)
    return {row.target_id: _key(row) for row in await conn.execute(query)}


async def insert_web_key(
    conn: AsyncConnection,
    instance_id: str,
    key_id: str,
    algorithm: str,
    sealed_private_jwk: str,
    public_jwk: dict[str, Any],
    now: datetime,
) -> None:
    """Store a new web key as the instance's active one."""
    await conn.execute(
        web_keys.insert().values(
            id=key_id,
            instance_id=instance_id,
            algorithm=algorithm,
            private_jwk=sealed_private_jwk,
            public_jwk=public_jwk,
            created_at=to_micros(now),
            active=True,
            published_until=None,
        )
    )


async def retire_web_keys(conn: AsyncConnection, instance_id: str, published_until: datetime) -> None:
    """Make the instance's active web keys inactive, keeping them in the JWKS until the given time."""
    await conn.execute(
        web_keys.update()
        .where(web_keys.c.instance_id == instance_id, web_keys.c.active.is_(True))
        .values(active=False, published_until=to_micros(published_until))
    )


async def active_web_key(conn: AsyncConnection, instance_id: str) -> tuple[str, str, str] | None:
    """The instance's active web key as (key id, algorithm, sealed private JWK), or None."""
    query = (
        sa.select(web_keys.c.id, web_keys.c.algorithm, web_keys.c.private_jwk)
        .where(web_keys.c.instance_id == instance_id, web_keys.c.active.is_(True))
        .order_by(web_keys.c.created_at.desc())
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row.id, row.algorithm, row.private_jwk)


async def published_web_keys(conn: AsyncConnection, instance_id: str, now: datetime) -> list[dict[str, Any]]:
    """The public JWKs receivers may verify with: the active key and retired ones still published."""
    still_published = sa.or_(web_keys.c.active.is_(True), web_keys.c.published_until > to_micros(now))
    query = (
        sa.select(web_keys.c.public_jwk)
        .where(web_keys.c.instance_id == instance_id, still_published)
        .order_by(web_keys.c.created_at.desc())
    )
    return [dict(value) for value in (await conn.execute(query)).scalars()]
