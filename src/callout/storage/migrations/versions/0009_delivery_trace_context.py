"""The W3C trace context of the call that caused each delivery (docs/tracing.md).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    """Two nullable columns: deliveries made before this revision, or without a trace, have none."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(256), nullable=True))
        batch.add_column(sa.Column("tracestate", sa.String(512), nullable=True))
