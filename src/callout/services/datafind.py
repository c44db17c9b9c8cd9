"""Finding a deployment's data: the data directory, the database and the master key.

Only the commands that start a deployment (``serve``, ``worker``, ``migrate``) may create them; every
other command run in the wrong directory says where it looked instead of silently starting an empty
deployment there. A master key is never created next to a database that already holds callout data:
the secrets stored with the lost key would become unreadable (docs/operations.md#finding-the-data).
"""

from __future__ import annotations

from pathlib import Path

from callout.errors import FailedPrecondition
from callout.services.datadir import secure_directory
from callout.services.secrets import MASTER_KEY_FILE, load_master_key, load_or_create_master_key
from callout.settings import Settings
from callout.storage.database import Database
from callout.storage.migrations import has_callout_schema


class DataNotFound(FailedPrecondition):
    """The settings point at no callout data (or at data without its master key)."""

    def __init__(self, detail: str) -> None:
        super().__init__("Errors.Data.NotFound", detail, verbatim=True)


async def find_data(settings: Settings, database: Database, *, create: bool) -> bytes:
    """Check that the data is where the settings say and return the master key.

    With ``create`` a missing data directory and master key are created (a missing database is left
    to the migrations); without it, anything missing is a DataNotFound naming where callout looked.
    """
    exists = await holds_callout_data(database)
    if not exists and not create:
        raise DataNotFound(missing_data_message(settings, database))
    if create:
        secure_directory(settings.data_dir)
    elif settings.data_dir.is_dir():
        secure_directory(settings.data_dir)  # only fixes modes: an existing directory is never created
    configured = settings.master_key.get_secret_value() if settings.master_key else None
    key = load_master_key(settings.data_dir, configured)
    if key is not None:
        return key
    if exists:
        raise DataNotFound(missing_key_message(settings, database))
    return load_or_create_master_key(settings.data_dir, None)


async def holds_callout_data(database: Database) -> bool:
    """Whether callout's schema is in the database; a SQLite file that does not exist is not opened."""
    if database.is_sqlite and not _sqlite_file_exists(database):
        return False
    return await has_callout_schema(database)


def _sqlite_file_exists(database: Database) -> bool:
    name = database.url.database
    return bool(name) and name != ":memory:" and Path(str(name)).is_file()


def missing_data_message(settings: Settings, database: Database) -> str:
    """What a command that may not create data says when there is none."""
    if not database.is_sqlite:
        shown = database.url.render_as_string(hide_password=True)
        return f"the database at {shown} has no callout schema; run `callout migrate`"
    if settings.database_url:
        return f"no callout data in {database.url.database}; pass --database-url or set CALLOUT_DATABASE_URL"
    return f"no callout data in {settings.data_dir.resolve()}; pass --data-dir or set CALLOUT_DATA_DIR"


def missing_key_message(settings: Settings, database: Database) -> str:
    """What is said instead of writing a new master key next to a database that holds callout data."""
    return (
        f"the database at {database.url.render_as_string(hide_password=True)} holds callout data but there is no "
        f"{settings.data_dir.resolve() / MASTER_KEY_FILE}; pass the --data-dir that holds its master key or set "
        "CALLOUT_MASTER_KEY (a new key could not read the stored secrets)"
    )
