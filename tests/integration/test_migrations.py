"""Migrations: applied from empty they produce exactly the schema the code describes, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from callout.services.context import ServiceContext
from callout.storage.database import Database
from callout.storage.migrations import current_revision, upgrade_to_head
from callout.storage.schema import metadata


def _differences(sync_conn: sa.Connection) -> list[Any]:
    migration_context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(migration_context, metadata))


class TestMigrations:
    async def test_migrated_schema_matches_the_metadata(self, context: ServiceContext) -> None:
        """Alembic finds no difference between the migrated database and schema.py."""
        async with context.database.read() as conn:
            differences = await conn.run_sync(_differences)
        assert differences == []

    async def test_upgrade_twice_is_a_no_op(self, context: ServiceContext) -> None:
        """Running the migrations on an up-to-date database changes nothing."""
        before = await current_revision(context.database)
        await upgrade_to_head(context.database)
        assert await current_revision(context.database) == before is not None

    async def test_empty_database_has_no_revision(self, database_url: str) -> None:
        """A database never migrated reports no revision."""
        database = Database(database_url)
        try:
            assert await current_revision(database) is None
        finally:
            await database.close()
