"""A value sealed under the current master key, checked before any secret is stored (docs/backups.md).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """An empty table: the first process to open the database with its key seals the value."""
    op.create_table(
        "master_key_check",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("sealed", sa.Text(), nullable=False),
    )
