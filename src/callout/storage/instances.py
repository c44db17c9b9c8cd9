"""Instances, organizations and personal access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.auth import Role
from callout.domain.clock import from_micros, to_micros
from callout.domain.instances import Instance, TokenRecord
from callout.storage.schema import instances, orgs, tokens


def _instance_from_row(row: sa.Row[Any]) -> Instance:
    return Instance(
        id=row.id,
        name=row.name,
        default_org_id=row.default_org_id,
        creation_date=from_micros(row.created_at),
        features=dict(row.features or {}),
    )


async def insert_instance(conn: AsyncConnection, instance: Instance, org_name: str) -> None:
    """Store an instance together with its default organization."""
    created = to_micros(instance.creation_date)
    await conn.execute(
        instances.insert().values(
            id=instance.id,
            name=instance.name,
            default_org_id=instance.default_org_id,
            features=instance.features,
            created_at=created,
        )
    )
    await conn.execute(
        orgs.insert().values(id=instance.default_org_id, instance_id=instance.id, name=org_name, created_at=created)
    )


async def find_instance(conn: AsyncConnection, instance_id: str) -> Instance | None:
    """Return the instance with this id, or None."""
    row = (await conn.execute(sa.select(instances).where(instances.c.id == instance_id))).first()
    return None if row is None else _instance_from_row(row)


async def list_instances(conn: AsyncConnection) -> list[Instance]:
    """Return every instance, oldest first."""
    rows = await conn.execute(sa.select(instances).order_by(instances.c.created_at, instances.c.id))
    return [_instance_from_row(row) for row in rows]


async def set_features(conn: AsyncConnection, instance_id: str, features: dict[str, bool]) -> None:
    """Replace the instance's feature switches."""
    await conn.execute(instances.update().where(instances.c.id == instance_id).values(features=features))


async def insert_token(conn: AsyncConnection, record: TokenRecord, token_hash: str) -> None:
    """Store a token by its hash."""
    await conn.execute(
        tokens.insert().values(
            id=record.id,
            instance_id=record.instance_id,
            org_id=record.org_id,
            user_id=record.user_id,
            role=record.role.value,
            token_hash=token_hash,
            created_at=to_micros(record.creation_date),
        )
    )


def token_from_row(row: sa.Row[Any]) -> TokenRecord:
    """A token row (without its hash) as a record; shared with the console's session query."""
    return TokenRecord(
        id=row.id,
        instance_id=row.instance_id,
        org_id=row.org_id,
        user_id=row.user_id,
        role=Role(row.role),
        creation_date=from_micros(row.created_at),
        revoked=row.revoked_at is not None,
    )


async def find_live_token_with_instance(
    conn: AsyncConnection, token_hash: str
) -> tuple[TokenRecord, dict[str, bool], int] | None:
    """Return an unrevoked token with its instance's features and routing version in one query."""
    query = (
        sa.select(tokens, instances.c.features, instances.c.routing_version)
        .join(instances, instances.c.id == tokens.c.instance_id)
        .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (token_from_row(row), dict(row.features or {}), int(row.routing_version))


async def routing_version_of(conn: AsyncConnection, instance_id: str) -> int:
    """The instance's current routing version (0 for an unknown instance)."""
    query = sa.select(instances.c.routing_version).where(instances.c.id == instance_id)
    return int((await conn.execute(query)).scalar() or 0)


async def list_tokens(conn: AsyncConnection, instance_id: str | None = None) -> list[TokenRecord]:
    """Return tokens (of one instance if given), oldest first, without their hashes."""
    query = sa.select(tokens).order_by(tokens.c.created_at, tokens.c.id)
    if instance_id is not None:
        query = query.where(tokens.c.instance_id == instance_id)
    return [token_from_row(row) for row in await conn.execute(query)]


async def revoke_token(conn: AsyncConnection, token_id: str, when: datetime) -> bool:
    """Revoke a token; return False if no live token has this id."""
    result = await conn.execute(
        tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=to_micros(when))
    )
    return bool(result.rowcount)


async def lock_instance(conn: AsyncConnection, instance_id: str) -> bool:
    """Lock the instance row until commit (PostgreSQL; SQLite writers are serialised anyway).

    ``FOR NO KEY UPDATE``, the lock an UPDATE of the row takes: lockers wait for each other, while
    inserts referencing the instance (their foreign-key checks) do not wait.
    """
    query = sa.select(instances.c.id).where(instances.c.id == instance_id).with_for_update(key_share=True)
    return (await conn.execute(query)).first() is not None


async def lock_routing(conn: AsyncConnection, instance_id: str) -> None:
    """Take the instance's routing lock first in every transaction that changes its routing data.

    Target updates and deletions, executions and key activations of one instance then run one after
    the other on PostgreSQL, each reading what the previous one committed: no lost update, no second
    active key, and no lock-order deadlock between them (docs/concurrency.md). They serialised on
    the routing-version bump before anyway; now they do from the start.
    """
    await lock_instance(conn, instance_id)
