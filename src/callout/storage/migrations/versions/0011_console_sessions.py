"""Web console sessions, stored server-side by the hash of their id (docs/console.md).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    """One row per signed-in browser; both timestamps are indexed so that expired rows are found fast."""
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_console_sessions_last_seen", "console_sessions", ["last_seen_at"])
    op.create_index("ix_console_sessions_created", "console_sessions", ["created_at"])
