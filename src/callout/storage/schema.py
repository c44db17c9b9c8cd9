"""The relational schema, described once with SQLAlchemy Core; migrations must produce exactly this.

Timestamps are integer microseconds since the epoch (UTC) so that SQLite and PostgreSQL store,
compare and sort them identically.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("default_org_id", sa.String(64), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # Bumped in the transaction of every target or execution change; routers cache by it.
    sa.Column("routing_version", sa.BigInteger(), nullable=False, server_default="0"),
)

orgs = sa.Table(
    "orgs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
)

targets = sa.Table(
    "targets",
    metadata,
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

# Names are unique per instance, case-insensitively, among targets that still exist.
sa.Index(
    "ux_targets_instance_name",
    targets.c.instance_id,
    targets.c.name_lower,
    unique=True,
    sqlite_where=targets.c.deleted_at.is_(None),
    postgresql_where=targets.c.deleted_at.is_(None),
)
sa.Index("ix_targets_instance_created", targets.c.instance_id, targets.c.created_at)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(64), sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=True),
)
sa.Index("ix_signing_keys_target", signing_keys.c.target_id)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("aggregate_type", sa.String(100), nullable=False),
    sa.Column("aggregate_id", sa.String(1100), nullable=False),
    sa.Column("sequence", sa.BigInteger(), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("creator", sa.String(64), nullable=False),
    sa.Column("resource_owner", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    # Host applications may push an event with a key; a repeat with the same key is stored once.
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.UniqueConstraint(
        "instance_id", "aggregate_type", "aggregate_id", "sequence", name="ux_events_aggregate_sequence"
    ),
)
sa.Index("ux_events_idempotency", events.c.instance_id, events.c.idempotency_key, unique=True)
# Retention walks events oldest first (docs/retention.md).
sa.Index("ix_events_created", events.c.created_at)

# The last sequence of each aggregate. PostgreSQL numbers new events from it with one atomic upsert,
# whose row lock serialises writers of one aggregate (docs/concurrency.md). SQLite, whose writers are
# serialised anyway, reads max(sequence) instead; it keeps here only the last sequence of aggregates
# whose events retention pruned, so that their numbering goes on (docs/retention.md).
aggregate_sequences = sa.Table(
    "aggregate_sequences",
    metadata,
    sa.Column("instance_id", sa.String(64), primary_key=True),
    sa.Column("aggregate_type", sa.String(100), primary_key=True),
    sa.Column("aggregate_id", sa.String(1100), primary_key=True),
    sa.Column("last_sequence", sa.BigInteger(), nullable=False),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), primary_key=True),
    sa.Column("id", sa.String(1100), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("changed_at", sa.BigInteger(), nullable=False),
)

execution_targets = sa.Table(
    "execution_targets",
    metadata,
    sa.Column("instance_id", sa.String(64), primary_key=True),
    sa.Column("execution_id", sa.String(1100), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("target_id", sa.String(64), sa.ForeignKey("targets.id"), nullable=False),
)
sa.Index("ix_execution_targets_target", execution_targets.c.target_id)

catalog_entries = sa.Table(
    "catalog_entries",
    metadata,
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(1000), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

target_public_keys = sa.Table(
    "target_public_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(64), sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("public_key", sa.Text(), nullable=False),
    sa.Column("fingerprint", sa.String(100), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("changed_at", sa.BigInteger(), nullable=False),
)
sa.Index("ix_target_public_keys_target", target_public_keys.c.target_id)
# At most one active key per target, whatever the writers do (docs/concurrency.md).
sa.Index(
    "ux_target_public_keys_active",
    target_public_keys.c.target_id,
    unique=True,
    sqlite_where=sa.text("active = 1"),
    postgresql_where=sa.text("active"),
)

# One value sealed under the current master key. Whoever stores a secret first checks (holding a share
# lock on PostgreSQL) that this still opens with its own key, and a rotation rewrites it first; so a
# process still running on the old key cannot store secrets nobody can read (docs/backups.md).
master_key_check = sa.Table(
    "master_key_check",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("sealed", sa.Text(), nullable=False),
)

web_keys = sa.Table(
    "web_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("instances.id"), nullable=False),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_jwk", sa.Text(), nullable=False),
    sa.Column("public_jwk", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    # After a rotation the old public key stays in the JWKS until then, so receivers keep verifying.
    sa.Column("published_until", sa.BigInteger(), nullable=True),
)
sa.Index("ix_web_keys_instance", web_keys.c.instance_id)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("execution_id", sa.String(1100), nullable=False),
    sa.Column("event_id", sa.BigInteger(), nullable=True),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    # pending → in_flight (leased) → succeeded | failed; an expired lease is due again.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
    sa.Column("lease_until", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # When the current round of attempts began (creation, or the last redelivery): max age counts from it.
    sa.Column("round_started_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    # The W3C trace context of the call that caused the delivery; its attempts continue that trace.
    sa.Column("traceparent", sa.String(256), nullable=True),
    sa.Column("tracestate", sa.String(512), nullable=True),
)
sa.Index("ix_deliveries_due", deliveries.c.state, deliveries.c.next_attempt_at)
sa.Index("ix_deliveries_instance_created", deliveries.c.instance_id, deliveries.c.created_at)
# Retention keeps every event a delivery still refers to (docs/retention.md).
sa.Index(
    "ix_deliveries_event",
    deliveries.c.event_id,
    sqlite_where=deliveries.c.event_id.is_not(None),
    postgresql_where=deliveries.c.event_id.is_not(None),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("latency_us", sa.BigInteger(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("response_head", sa.Text(), nullable=True),
)
sa.Index("ix_delivery_attempts_delivery", delivery_attempts.c.delivery_id)

# Web console sessions (docs/console.md): only a hash of the session id is kept; the token's id ties
# the session to a token, so that revoking the token ends the session.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("token_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
)
sa.Index("ix_console_sessions_last_seen", console_sessions.c.last_seen_at)
sa.Index("ix_console_sessions_created", console_sessions.c.created_at)
