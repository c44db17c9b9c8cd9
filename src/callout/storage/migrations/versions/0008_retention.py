"""Indexes retention needs: events by age, deliveries by the event they carry (docs/retention.md).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    """Find old events without a scan, and tell at once whether a delivery still needs an event."""
    op.create_index("ix_events_created", "events", ["created_at"])
    op.create_index(
        "ix_deliveries_event",
        "deliveries",
        ["event_id"],
        sqlite_where=sa.text("event_id IS NOT NULL"),
        postgresql_where=sa.text("event_id IS NOT NULL"),
    )
