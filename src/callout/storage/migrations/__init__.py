"""Alembic migrations, applied at start and by ``callout migrate``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from callout.storage.database import Database
from callout.storage.vacuum import ensure_incremental_vacuum

_HERE = Path(__file__).parent


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(database: Database) -> None:
    """Apply every pending migration in one transaction; on SQLite, switch on incremental auto-vacuum first."""
    await ensure_incremental_vacuum(database)
    await upgrade_to(database, "head")


async def upgrade_to(database: Database, revision: str) -> None:
    """Apply the pending migrations up to ``revision`` in one transaction."""
    async with database.transaction() as conn:
        await conn.run_sync(lambda sync_conn: command.upgrade(_config(sync_conn), revision))


async def current_revision(database: Database) -> str | None:
    """Return the revision the database is at, or None before the first migration."""
    async with database.read() as conn:
        return await conn.run_sync(_read_revision)


def _read_revision(sync_conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync_conn).get_current_revision()
