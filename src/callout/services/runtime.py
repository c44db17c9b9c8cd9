"""Opening a process's services from settings: data directory, database, migrations, master key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import build_resolver
from callout.domain.egress import EgressPolicy
from callout.services.context import ServiceContext
from callout.services.datadir import secure_sqlite_files
from callout.services.datafind import find_data
from callout.services.executions import catalog_from_file
from callout.services.master_key import verify_master_key
from callout.services.sealing import ensure_key_check
from callout.services.secrets import SecretBox
from callout.settings import Settings
from callout.storage.database import Database
from callout.storage.migrations import upgrade_to_head


async def open_context(settings: Settings, *, create: bool = False, migrate: bool = True) -> ServiceContext:
    """Find the data (creating it only with ``create``), connect, apply migrations, load the master key.

    Only ``serve``, ``worker`` and ``migrate`` pass ``create``: every other command on missing data is
    an error naming where it looked (docs/operations.md#finding-the-data).
    """
    database = Database(settings.resolved_database_url, settings.pool_settings())
    try:
        # Before SQLite first opens it, so that the WAL and SHM files it makes inherit 0600.
        _secure_sqlite_file(database, create_missing=False)
        secret_box = SecretBox(await find_data(settings, database, create=create))
        _secure_sqlite_file(database, create_missing=True)
        if migrate:
            await upgrade_to_head(database)
            # A wrong key must stop the start saying what to do, not fail the first signed call.
            from_environment = settings.master_key is not None
            await verify_master_key(database, secret_box, settings.data_dir, from_environment=from_environment)
            await ensure_key_check(database, secret_box)
    except BaseException:
        await database.close()
        raise
    return _context(settings, database, secret_box)


def _secure_sqlite_file(database: Database, *, create_missing: bool) -> None:
    # The data dir holds the database and the master key: only the owner may look inside.
    sqlite_file = database.url.database if database.is_sqlite else None
    if not sqlite_file or sqlite_file == ":memory:":
        return
    if create_missing or Path(sqlite_file).exists():
        secure_sqlite_files(Path(sqlite_file))


def _context(settings: Settings, database: Database, secret_box: SecretBox) -> ServiceContext:
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
