"""Every column that holds a secret sealed under the master key, read and rewritten for key rotation.

The list below is the one place that knows which columns are encrypted: a new sealed column must be
added here, or a master key rotation would leave it unreadable (docs/backups.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.storage.schema import master_key_check, signing_keys, web_keys

# The key check comes first: a rotation's first write takes its row lock, so that on PostgreSQL it
# waits for the transactions storing a secret under the old key and sees their rows.
SEALED_COLUMNS: tuple[tuple[sa.Table, str], ...] = (
    (master_key_check, "sealed"),
    (signing_keys, "secret"),
    (web_keys, "private_jwk"),
)
_KEY_CHECK_ID = "current"


@dataclass(frozen=True)
class SealedColumn:
    """One encrypted column: its table and column name, for progress and error messages."""

    table: sa.Table
    column: str

    @property
    def label(self) -> str:
        """``table.column``."""
        return f"{self.table.name}.{self.column}"


def sealed_columns() -> Iterator[SealedColumn]:
    """Every encrypted column, in a fixed order."""
    for table, column in SEALED_COLUMNS:
        yield SealedColumn(table, column)


async def count_sealed(conn: AsyncConnection) -> int:
    """How many sealed values the database holds."""
    total = 0
    for sealed in sealed_columns():
        total += (await conn.execute(sa.select(sa.func.count()).select_from(sealed.table))).scalar_one()
    return total


async def sealed_values(conn: AsyncConnection, sealed: SealedColumn) -> list[tuple[str, str]]:
    """(row id, sealed value) of every row of one column, by id."""
    table = sealed.table
    query = sa.select(table.c.id, table.c[sealed.column]).order_by(table.c.id)
    return [(row[0], row[1]) for row in await conn.execute(query)]


async def replace_sealed_values(conn: AsyncConnection, sealed: SealedColumn, values: list[tuple[str, str]]) -> None:
    """Overwrite the sealed value of each given row id."""
    if not values:
        return
    table = sealed.table
    statement = (
        table.update().where(table.c.id == sa.bindparam("row_id")).values({sealed.column: sa.bindparam("sealed")})
    )
    await conn.execute(statement, [{"row_id": row_id, "sealed": value} for row_id, value in values])


async def any_sealed_value(conn: AsyncConnection) -> str | None:
    """One stored sealed value (any), to check that a master key opens the secrets; None if there is none."""
    for sealed in sealed_columns():
        value = (await conn.execute(sa.select(sealed.table.c[sealed.column]).limit(1))).scalar()
        if value is not None:
            return str(value)
    return None


async def has_sealed_tables(conn: AsyncConnection) -> bool:
    """Whether the database has callout's tables (a database never migrated has none)."""
    names = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    return all(sealed.table.name in names for sealed in sealed_columns())


async def key_check(conn: AsyncConnection, *, share_lock: bool = False) -> str | None:
    """The value sealed under the current master key; ``share_lock`` holds off a rotation until commit."""
    query = sa.select(master_key_check.c.sealed).where(master_key_check.c.id == _KEY_CHECK_ID)
    if share_lock:
        query = query.with_for_update(read=True)  # SQLite has no row locks; its writers are serialised
    return (await conn.execute(query)).scalar()


async def insert_key_check(conn: AsyncConnection, sealed: str) -> None:
    """Store the first key check (a concurrent first start loses the unique race and is retried)."""
    await conn.execute(master_key_check.insert().values(id=_KEY_CHECK_ID, sealed=sealed))
