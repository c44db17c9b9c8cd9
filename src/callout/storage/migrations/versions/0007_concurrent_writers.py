"""Constraints for concurrent writers: one active public key per target, per-aggregate sequence counters.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_keys = sa.table(
    "target_public_keys",
    sa.column("id", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("changed_at", sa.BigInteger()),
)


def upgrade() -> None:
    """Keep the latest activated key of each target active, then enforce it; count sequences on PostgreSQL."""
    _deactivate_all_but_latest_active_key()
    op.create_index(
        "ux_target_public_keys_active",
        "target_public_keys",
        ["target_id"],
        unique=True,
        sqlite_where=sa.text("active = 1"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "aggregate_sequences",
        sa.Column("instance_id", sa.String(64), primary_key=True),
        sa.Column("aggregate_type", sa.String(100), primary_key=True),
        sa.Column("aggregate_id", sa.String(1100), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite numbers events without the counters
        op.execute(
            "INSERT INTO aggregate_sequences (instance_id, aggregate_type, aggregate_id, last_sequence) "
            "SELECT instance_id, aggregate_type, aggregate_id, max(sequence) FROM events "
            "GROUP BY instance_id, aggregate_type, aggregate_id"
        )


def _deactivate_all_but_latest_active_key() -> None:
    # Concurrent activations could leave several keys of one target active before this revision.
    # The one changed last (the last activation; ties by id) stays active, as the write path would
    # have left it had the activations run one after the other.
    newer = _keys.alias("newer")
    later_active = (
        sa.select(newer.c.id)
        .where(
            newer.c.target_id == _keys.c.target_id,
            newer.c.active.is_(True),
            sa.or_(
                newer.c.changed_at > _keys.c.changed_at,
                sa.and_(newer.c.changed_at == _keys.c.changed_at, newer.c.id > _keys.c.id),
            ),
        )
        .exists()
    )
    op.execute(_keys.update().where(_keys.c.active.is_(True), later_active).values(active=False))
