"""Every column that holds a secret sealed under the master key, read and rewritten for key rotation.

The list below is the one place that knows which columns are encrypted: a new sealed column must be
added here, or a master key rotation would leave it unreadable (docs/backups.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.storage.schema import signing_keys, web_keys

SEALED_COLUMNS: tuple[tuple[sa.Table, str], ...] = ((signing_keys, "secret"), (web_keys, "private_jwk"))


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
