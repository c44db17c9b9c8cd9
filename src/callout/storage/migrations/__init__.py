"""Alembic migrations, applied at start and by ``callout migrate``.

A database migrated by a newer callout is refused, not touched: during a rolling upgrade the older
processes must stop rather than run on a schema they do not know (docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from callout.errors import FailedPrecondition
from callout.storage.database import Database
from callout.storage.vacuum import ensure_incremental_vacuum

_HERE = Path(__file__).parent
VERSION_TABLE = "alembic_version"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def known_revisions() -> frozenset[str]:
    """Every revision this version of callout has a migration for."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions())


class SchemaTooNew(FailedPrecondition):
    """The database was migrated by a newer callout than this one."""

    def __init__(self, revision: str) -> None:
        detail = f"the database schema is newer than this callout (revision {revision}); upgrade callout"
        super().__init__("Errors.Database.SchemaTooNew", detail, verbatim=True)


async def upgrade_to_head(database: Database) -> None:
    """Apply every pending migration in one transaction; on SQLite, switch on incremental auto-vacuum first."""
    await ensure_incremental_vacuum(database)
    await upgrade_to(database, "head")


async def upgrade_to(database: Database, revision: str) -> None:
    """Apply the pending migrations up to ``revision`` in one transaction; refuse a newer schema."""
    async with database.transaction() as conn:
        await conn.run_sync(lambda sync_conn: _upgrade(sync_conn, revision))


def _upgrade(sync_conn: sa.Connection, revision: str) -> None:
    current = _read_revision(sync_conn)
    if current is not None and current not in known_revisions():
        raise SchemaTooNew(current)
    command.upgrade(_config(sync_conn), revision)


async def current_revision(database: Database) -> str | None:
    """Return the revision the database is at, or None before the first migration."""
    async with database.read() as conn:
        return await conn.run_sync(_read_revision)


async def has_callout_schema(database: Database) -> bool:
    """Whether callout's migrations have ever run on this database (its version table exists)."""
    async with database.read() as conn:
        return await conn.run_sync(lambda sync_conn: sa.inspect(sync_conn).has_table(VERSION_TABLE))


def _read_revision(sync_conn: sa.Connection) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()
