"""Migrations: applied from empty they produce exactly the schema the code describes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from callout.domain.events import NewEvent
from callout.services.context import ServiceContext
from callout.storage.database import Connection, Database
from callout.storage.events import append_events
from callout.storage.migrations import SchemaTooNew, current_revision, upgrade_to, upgrade_to_head
from callout.storage.schema import events, instances, metadata, target_public_keys, targets

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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

    async def test_a_newer_schema_is_refused_and_left_alone(self, context: ServiceContext) -> None:
        """A database stamped with a revision this callout does not know is refused by name and not touched."""
        async with context.database.transaction() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
        with pytest.raises(SchemaTooNew) as raised:
            await upgrade_to_head(context.database)
        assert raised.value.message == (
            "the database schema is newer than this callout (revision ffff_from_the_future); upgrade callout"
        )
        assert await current_revision(context.database) == "ffff_from_the_future"

    async def test_empty_database_has_no_revision(self, database_url: str) -> None:
        """A database never migrated reports no revision."""
        database = Database(database_url)
        try:
            assert await current_revision(database) is None
        finally:
            await database.close()


async def _instance_with_target(conn: Connection) -> None:
    await conn.execute(instances.insert().values(id="i", name="i", default_org_id="o", features={}, created_at=0))
    await conn.execute(
        targets.insert().values(
            id="t",
            instance_id="i",
            name="t",
            name_lower="t",
            target_type=1,
            interrupt_on_error=False,
            timeout_us=1,
            endpoint="https://example.com",
            payload_type=1,
            created_at=0,
            changed_at=0,
        )
    )


def _key(key_id: str, active: bool, changed_at: int) -> dict[str, Any]:
    return {
        "id": key_id,
        "instance_id": "i",
        "target_id": "t",
        "public_key": "pem",
        "fingerprint": "f",
        "active": active,
        "expires_at": None,
        "created_at": 0,
        "changed_at": changed_at,
    }


def _event(sequence: int) -> dict[str, Any]:
    return {
        "instance_id": "i",
        "aggregate_type": "order",
        "aggregate_id": "o-1",
        "sequence": sequence,
        "event_type": "order.paid",
        "creator": "u",
        "resource_owner": "i",
        "created_at": 0,
        "payload": {},
    }


class TestMigration0007:
    async def test_several_active_keys_of_a_target_leave_only_the_last_changed_active(self, database_url: str) -> None:
        """Keys left active together by old concurrent activations: the one changed last stays active."""
        database = Database(database_url)
        try:
            await upgrade_to(database, "0006")
            async with database.transaction() as conn:
                await _instance_with_target(conn)
                rows = [_key("k1", True, 100), _key("k2", True, 300), _key("k3", True, 300), _key("k4", False, 900)]
                await conn.execute(target_public_keys.insert(), rows)
            await upgrade_to_head(database)
            async with database.read() as conn:
                found = await conn.execute(sa.select(target_public_keys.c.id, target_public_keys.c.active))
                active = {row.id: bool(row.active) for row in found}
        finally:
            await database.close()
        assert active == {"k1": False, "k2": False, "k3": True, "k4": False}

    async def test_events_stored_before_the_upgrade_are_numbered_on_from(self, database_url: str) -> None:
        """An aggregate with two events from before the upgrade gets sequence 3 for its next event."""
        database = Database(database_url)
        new = NewEvent("i", "order", "o-1", "order.paid", "u", "i", {})
        try:
            await upgrade_to(database, "0006")
            async with database.transaction() as conn:
                await _instance_with_target(conn)
                await conn.execute(events.insert(), [_event(1), _event(2)])
            await upgrade_to_head(database)
            stored = await database.write(lambda conn: append_events(conn, [new], NOW))
        finally:
            await database.close()
        assert stored[0].sequence == 3
