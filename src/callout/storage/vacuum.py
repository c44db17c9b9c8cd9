"""SQLite space reclaim: incremental auto-vacuum, switched on once, run in small steps after pruning.

A new SQLite database is created with ``auto_vacuum=INCREMENTAL`` (set at connect, storage/database.py);
an existing one is switched by one full ``VACUUM`` when the migrations run. Pruning gives free pages
back to the file system in steps of ``PAGES_PER_STEP``, each one short write transaction. PostgreSQL
needs none of this: autovacuum makes deleted rows' space reusable (docs/retention.md).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.storage.database import Database

log = structlog.get_logger("callout.storage")
INCREMENTAL = 2  # what PRAGMA auto_vacuum reports for INCREMENTAL
PAGES_PER_STEP = 2048


async def ensure_incremental_vacuum(database: Database) -> None:
    """SQLite: switch a database created before retention to incremental auto-vacuum (one full VACUUM)."""
    if not database.is_sqlite:
        return
    async with database.read() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar()
        tables = (await conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'table'")).scalar()
        if mode == INCREMENTAL or not tables:
            return
        log.info("storage.vacuum.switching_to_incremental", detail="one full VACUUM; may take a while")
        # The connection set auto_vacuum=INCREMENTAL when it opened; VACUUM applies it to the file.
        await _script(conn, "VACUUM")


async def incremental_vacuum(database: Database, pages: int = PAGES_PER_STEP) -> None:
    """SQLite: give up to ``pages`` free pages back to the file system, as one short write."""
    if not database.is_sqlite:
        return

    async def step(conn: AsyncConnection) -> None:
        # Through the driver's script call: a plain execute steps the pragma once, freeing one page.
        # The script commits the (empty) transaction first and runs the pragma as its own write.
        await _script(conn, f"PRAGMA incremental_vacuum({int(pages)})")

    await database.write(step)


async def give_back_space(database: Database, at_least: int = 1, max_steps: int = 64) -> None:
    """SQLite: once ``at_least`` pages are free, give them back a step at a time (each a short write)."""
    for _ in range(max_steps):
        if await free_pages(database) < at_least:
            return
        await incremental_vacuum(database)


async def free_pages(database: Database) -> int:
    """SQLite: pages in the file that hold no data (0 on PostgreSQL)."""
    if not database.is_sqlite:
        return 0
    async with database.read() as conn:
        return int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar() or 0)


async def auto_vacuum_mode(database: Database) -> int:
    """SQLite: the file's auto_vacuum mode (0 none, 1 full, 2 incremental)."""
    async with database.read() as conn:
        return int((await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar() or 0)


async def _script(conn: AsyncConnection, script: str) -> None:
    raw: Any = await conn.get_raw_connection()
    await raw.driver_connection.executescript(script)
