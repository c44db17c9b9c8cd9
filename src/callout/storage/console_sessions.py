"""Web console sessions in the database (docs/console.md): kept by the hash of their id only."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.console import ConsoleSession
from callout.domain.instances import TokenRecord
from callout.storage.instances import token_from_row
from callout.storage.schema import console_sessions, instances, tokens

# Labelled: the token's columns share some of these names.
_SESSION_COLUMNS = [column.label(f"session_{column.name}") for column in console_sessions.c]


async def insert_session(conn: AsyncConnection, session: ConsoleSession) -> None:
    """Store a new session."""
    await conn.execute(
        console_sessions.insert().values(
            id_hash=session.id_hash,
            instance_id=session.instance_id,
            token_id=session.token_id,
            created_at=to_micros(session.created_at),
            last_seen_at=to_micros(session.last_seen_at),
        )
    )


async def find_session_with_token(
    conn: AsyncConnection, id_hash: str
) -> tuple[ConsoleSession, TokenRecord, dict[str, bool], int] | None:
    """A session whose token is still live (not revoked, same instance), with the instance's features and
    routing version."""
    query = (
        sa.select(*_SESSION_COLUMNS, tokens, instances.c.features, instances.c.routing_version)
        .join(tokens, tokens.c.id == console_sessions.c.token_id)
        .join(instances, instances.c.id == tokens.c.instance_id)
        .where(
            console_sessions.c.id_hash == id_hash,
            tokens.c.revoked_at.is_(None),
            tokens.c.instance_id == console_sessions.c.instance_id,
        )
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    session = ConsoleSession(
        id_hash=row.session_id_hash,
        instance_id=row.session_instance_id,
        token_id=row.session_token_id,
        created_at=from_micros(row.session_created_at),
        last_seen_at=from_micros(row.session_last_seen_at),
    )
    features = dict(row.features or {})
    return session, token_from_row(row), features, int(row.routing_version or 0)  # type: ignore[arg-type]


async def touch_session(conn: AsyncConnection, id_hash: str, when: datetime) -> None:
    """Record a request as the session's last activity."""
    await conn.execute(
        console_sessions.update().where(console_sessions.c.id_hash == id_hash).values(last_seen_at=to_micros(when))
    )


async def delete_session(conn: AsyncConnection, id_hash: str) -> bool:
    """Delete one session; return False if there was none."""
    result = await conn.execute(console_sessions.delete().where(console_sessions.c.id_hash == id_hash))
    return bool(result.rowcount)


async def delete_expired_sessions(conn: AsyncConnection, idle_before: datetime, created_before: datetime) -> int:
    """Delete sessions idle since before ``idle_before`` or created before ``created_before``; return how many."""
    expired = sa.or_(
        console_sessions.c.last_seen_at < to_micros(idle_before),
        console_sessions.c.created_at < to_micros(created_before),
    )
    result = await conn.execute(console_sessions.delete().where(expired))
    return int(result.rowcount or 0)
