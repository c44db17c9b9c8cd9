"""Widen event aggregate ids: execution ids (up to 1100 characters) are aggregates too.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Let events.aggregate_id hold any execution id."""
    with op.batch_alter_table("events") as batch:
        batch.alter_column("aggregate_id", type_=sa.String(1100), existing_type=sa.String(200), existing_nullable=False)
