"""Alembic environment: runs migrations on the connection handed in by ``upgrade_to_head``."""

from __future__ import annotations

from alembic import context

from callout.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
