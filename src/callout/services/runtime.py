"""Opening a process's services from settings: data directory, database, migrations, master key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import build_resolver
from callout.domain.egress import EgressPolicy
from callout.services.context import ServiceContext
from callout.services.datadir import secure_directory, secure_sqlite_files
from callout.services.executions import catalog_from_file
from callout.services.master_key import verify_master_key
from callout.services.secrets import SecretBox, load_or_create_master_key
from callout.settings import Settings
from callout.storage.database import Database
from callout.storage.migrations import upgrade_to_head


async def open_context(settings: Settings, *, migrate: bool = True) -> ServiceContext:
    """Create the data directory, connect, apply migrations and load (or create) the master key."""
    # The data dir holds the database and the master key: only the owner may look inside.
    secure_directory(settings.data_dir)
    configured = settings.master_key.get_secret_value() if settings.master_key else None
    secret_box = SecretBox(load_or_create_master_key(settings.data_dir, configured))
    database = Database(settings.resolved_database_url)
    sqlite_file = database.url.database if database.is_sqlite else None
    if sqlite_file and sqlite_file != ":memory:":
        secure_sqlite_files(Path(sqlite_file))
    if migrate:
        await upgrade_to_head(database)
        try:
            # A wrong key must stop the start saying what to do, not fail the first signed call.
            await verify_master_key(database, secret_box, settings.data_dir, from_environment=bool(configured))
        except BaseException:
            await database.close()
            raise
    egress = EgressPolicy.from_entries(settings.egress_allow, settings.egress_deny, dev_mode=settings.dev)
    resolver = build_resolver(settings.egress_resolve, settings.egress_resolver)
    sender = AiohttpSender(egress, resolver, settings.max_answer_bytes)
    context = ServiceContext(
        database=database,
        secret_box=secret_box,
        egress=egress,
        resolver=resolver,
        sender=sender,
        catalog_limits=settings.catalog_limits(),
    )
    if settings.catalog_file is not None:
        context = replace(context, catalog=catalog_from_file(context.catalog, settings.catalog_file))
    return context
