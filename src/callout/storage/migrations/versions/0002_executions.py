"""Executions, their ordered targets, host catalog entries, and the instance routing version.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Add the execution tables."""
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("routing_version", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "executions",
        sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), primary_key=True),
        sa.Column("id", sa.String(1100), primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "execution_targets",
        sa.Column("instance_id", sa.String(64), primary_key=True),
        sa.Column("execution_id", sa.String(1100), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("target_id", sa.String(64), sa.ForeignKey("targets.id"), nullable=False),
    )
    op.create_index("ix_execution_targets_target", "execution_targets", ["target_id"])
    op.create_table(
        "catalog_entries",
        sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(1000), primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
