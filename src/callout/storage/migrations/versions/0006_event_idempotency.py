"""Idempotency keys for pushed events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """A nullable key, unique per instance (NULLs never collide on either database)."""
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.create_index("ux_events_idempotency", "events", ["instance_id", "idempotency_key"], unique=True)
