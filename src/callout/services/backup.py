"""``callout backup``: an online copy of a SQLite data directory that can be served as it is (docs/backups.md).

The backup is a directory laid out like a data directory: ``callout.db`` (a consistent copy taken
while the server keeps writing), ``master.key`` (without which the signing keys and web keys in the
copy cannot be read) and ``admin.pat`` when there is one. Restoring is pointing ``--data-dir`` at it.
A key given in CALLOUT_MASTER_KEY is never written anywhere: the operator keeps it with the backup.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from callout.errors import AlreadyExists, FailedPrecondition
from callout.services.instances import ADMIN_PAT_FILE
from callout.services.master_key import fsync_directory
from callout.services.secrets import MASTER_KEY_FILE
from callout.services.workers import lock_sqlite_data_dir
from callout.settings import Settings
from callout.storage.sqlite_backup import Progress, copy_sqlite_online, sqlite_file

DATABASE_FILE = "callout.db"
_PARTIAL_SUFFIX = ".partial"


class MasterKeyCopy(enum.Enum):
    """What became of the master key in a backup."""

    COPIED = "copied"
    FROM_ENVIRONMENT = "from-environment"
    LEFT_OUT = "left-out"
    MISSING = "missing"


@dataclass(frozen=True)
class BackupResult:
    """Where the backup went, how big the database copy is and whether the master key is in it."""

    directory: Path
    pages: int
    size_bytes: int
    master_key: MasterKeyCopy


def existing_sqlite_file(settings: Settings) -> Path:
    """The SQLite file of these settings, which must exist; PostgreSQL is FailedPrecondition."""
    path = sqlite_file(settings.resolved_database_url)
    if path is None:
        raise FailedPrecondition(
            "Errors.Backup.NotSQLite",
            "the database is not a SQLite file: back PostgreSQL up with pg_dump (docs/backups.md)",
        )
    if not path.is_file():
        raise FailedPrecondition("Errors.Backup.NoDatabase", f"there is no database at {path}")
    return path


def backup_data_dir(
    settings: Settings, destination: Path, *, force: bool, with_master_key: bool, progress: Progress
) -> BackupResult:
    """Copy the database (online) and the master key into the new directory ``destination``."""
    source = existing_sqlite_file(settings)
    overwriting = destination.exists()
    _prepare_destination(destination, source, force=force)
    try:
        with _not_in_use(destination) if overwriting else contextlib.nullcontext():
            return _copy_into(settings, source, destination, with_master_key, progress)
    except BaseException:
        if not overwriting:  # a directory this run made and left empty would make the retry need --force
            with contextlib.suppress(OSError):
                destination.rmdir()
        raise


def _copy_into(
    settings: Settings, source: Path, destination: Path, with_master_key: bool, progress: Progress
) -> BackupResult:
    target = destination / DATABASE_FILE
    partial = target.with_name(target.name + _PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)
    pages = copy_sqlite_online(source, partial, progress)
    # Renamed only when complete, so a callout.db in a backup is never half a copy.
    os.replace(partial, target)
    key = _copy_master_key(settings, destination, with_master_key)
    _copy_if_present(settings.data_dir / ADMIN_PAT_FILE, destination / ADMIN_PAT_FILE)
    fsync_directory(destination)
    return BackupResult(destination, pages, target.stat().st_size, key)


@contextlib.contextmanager
def _not_in_use(destination: Path) -> Iterator[None]:
    # --force may name the data dir of a running server: replacing callout.db under it would mix that
    # server's WAL into the copy. Its process lock keeps serve and worker out while the copy is made.
    try:
        handle = lock_sqlite_data_dir(destination)
    except FailedPrecondition as error:
        raise FailedPrecondition(
            "Errors.Backup.InUse",
            f"a callout server or worker is using {destination}: stop it or choose another directory",
        ) from error
    with handle:
        # The WAL of a server that stopped uncleanly here belongs to the old database: SQLite would
        # replay it onto the copy.
        for leftover in (DATABASE_FILE + "-wal", DATABASE_FILE + "-shm"):
            (destination / leftover).unlink(missing_ok=True)
        yield


def _prepare_destination(destination: Path, source: Path, *, force: bool) -> None:
    if destination.exists() and not force:
        raise AlreadyExists("Errors.Backup.Exists", f"{destination} exists; use --force to overwrite it")
    if destination.exists() and not destination.is_dir():
        raise FailedPrecondition("Errors.Backup.NotADirectory", f"{destination} is not a directory")
    if destination.exists() and destination.resolve() == source.parent.resolve():
        raise FailedPrecondition("Errors.Backup.SameDirectory", f"{destination} holds the database being backed up")
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(destination, 0o700)


def _copy_master_key(settings: Settings, destination: Path, with_master_key: bool) -> MasterKeyCopy:
    copied = destination / MASTER_KEY_FILE
    copied.unlink(missing_ok=True)  # a key left by an earlier backup in this directory may not match
    if settings.master_key is not None:
        return MasterKeyCopy.FROM_ENVIRONMENT
    if not with_master_key:
        return MasterKeyCopy.LEFT_OUT
    if _copy_if_present(settings.data_dir / MASTER_KEY_FILE, copied):
        return MasterKeyCopy.COPIED
    return MasterKeyCopy.MISSING


def _copy_if_present(source: Path, target: Path) -> bool:
    if not source.is_file():
        return False
    target.unlink(missing_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with source.open("rb") as reading, os.fdopen(descriptor, "wb") as writing:
        shutil.copyfileobj(reading, writing)
        writing.flush()
        os.fsync(writing.fileno())
    return True
