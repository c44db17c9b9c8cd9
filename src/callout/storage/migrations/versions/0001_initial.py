"""Initial schema: instances, organizations, tokens, targets, signing keys, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the first tables."""
    _create_tenancy()
    _create_targets()
    _create_events()


def _create_tenancy() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("default_org_id", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    )


def _create_targets() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("name_lower", sa.String(1000), nullable=False),
        sa.Column("target_type", sa.SmallInteger(), nullable=False),
        sa.Column("interrupt_on_error", sa.Boolean(), nullable=False),
        sa.Column("timeout_us", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("payload_type", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
    )
    live = sa.text("deleted_at IS NULL")
    op.create_index(
        "ux_targets_instance_name",
        "targets",
        ["instance_id", "name_lower"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    op.create_index("ix_targets_instance_created", "targets", ["instance_id", "created_at"])
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(64), sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_signing_keys_target", "signing_keys", ["target_id"])


def _create_events() -> None:
    op.create_table(
        "events",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("creator", sa.String(64), nullable=False),
        sa.Column("resource_owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.UniqueConstraint(
            "instance_id",
            "aggregate_type",
            "aggregate_id",
            "sequence",
            name="ux_events_aggregate_sequence",
        ),
    )
