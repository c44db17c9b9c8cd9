"""The master key's life: checking that it opens the stored secrets, and rotating it (docs/backups.md).

A rotation re-encrypts every sealed value in one transaction, so the database is wholly under the old
key or wholly under the new one. The key file and the commit cannot change together, so the new key
is made durable first (``master.key.new``, or printed when the key comes from CALLOUT_MASTER_KEY),
then the transaction commits, then the new file replaces ``master.key`` and the old key stays in
``master.key.old``. A crash in between loses no key: before the commit the old key still opens
everything; after it, ``master.key.new`` does, and every start says so until the file is moved.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from callout.errors import FailedPrecondition
from callout.services.secrets import MASTER_KEY_FILE, MasterKeyError, SecretBox, decode_master_key
from callout.services.workers import lock_sqlite_data_dir
from callout.settings import Settings
from callout.storage import sealed as store
from callout.storage.database import Connection, Database
from callout.storage.sqlite_backup import sqlite_file

NEW_KEY_FILE = MASTER_KEY_FILE + ".new"
OLD_KEY_FILE = MASTER_KEY_FILE + ".old"
ENVIRONMENT_VARIABLE = "CALLOUT_MASTER_KEY"
_BATCH = 500
# Called after each batch with (values re-encrypted so far, values in all).
Progress = Callable[[int, int], None]


def encode_key(key: bytes) -> str:
    """The base64 form in which master keys are written and configured."""
    return base64.b64encode(key).decode()


def write_key_file(path: Path, key: bytes) -> None:
    """Replace ``path`` atomically with the key (temp file, fsync, rename, directory fsync), mode 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, (encode_key(key) + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make renames and new files in the directory durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_key_file(path: Path) -> bytes:
    """The key in a file; a missing or malformed file is FailedPrecondition naming the file."""
    try:
        return decode_master_key(path.read_text())
    except FileNotFoundError as error:
        raise FailedPrecondition("Errors.MasterKey.Missing", f"there is no master key at {path}") from error
    except MasterKeyError as error:
        raise FailedPrecondition("Errors.MasterKey.Invalid", f"{path}: {error}") from error


async def verify_master_key(database: Database, box: SecretBox, data_dir: Path, *, from_environment: bool) -> None:
    """Raise FailedPrecondition, saying what to do, when the key does not open the stored secrets."""
    async with database.read() as conn:
        sample = await store.any_sealed_value(conn)
    if sample is None or _opens(box, sample):
        return
    raise FailedPrecondition("Errors.MasterKey.Mismatch", _mismatch_detail(sample, data_dir, from_environment))


def _opens(box: SecretBox, sealed: str) -> bool:
    try:
        box.decrypt(sealed)
    except MasterKeyError:
        return False
    return True


def _mismatch_detail(sample: str, data_dir: Path, from_environment: bool) -> str:
    if not from_environment and _file_opens(data_dir / NEW_KEY_FILE, sample):
        return (
            f"{MASTER_KEY_FILE} does not decrypt the stored secrets but {NEW_KEY_FILE} does: a master key "
            f"rotation stopped after its commit; finish it in {data_dir} with "
            f"`cp {MASTER_KEY_FILE} {OLD_KEY_FILE} && mv {NEW_KEY_FILE} {MASTER_KEY_FILE}`"
        )
    if _file_opens(data_dir / OLD_KEY_FILE, sample):
        return (
            f"the master key does not decrypt the stored secrets but {OLD_KEY_FILE} in {data_dir} does: the "
            "database predates the last key rotation (a restored backup?); it needs the key from before"
        )
    source = ENVIRONMENT_VARIABLE if from_environment else str(data_dir / MASTER_KEY_FILE)
    return (
        f"the master key ({source}) does not decrypt the stored secrets: configure the key that belongs to "
        "this database; without it the signing keys and web keys cannot be read (docs/backups.md)"
    )


def _file_opens(path: Path, sample: str) -> bool:
    try:
        return path.is_file() and _opens(SecretBox(read_key_file(path)), sample)
    except FailedPrecondition:  # a malformed leftover file is no answer either
        return False


async def reseal_all(database: Database, old: SecretBox, new: SecretBox, progress: Progress) -> int:
    """Re-encrypt every sealed value from ``old`` to ``new`` in one transaction; return how many."""

    async def body(conn: Connection) -> int:
        total, done = await store.count_sealed(conn), 0
        for column in store.sealed_columns():
            values = await store.sealed_values(conn, column)
            for start in range(0, len(values), _BATCH):
                batch = values[start : start + _BATCH]
                resealed = [(row_id, _reseal(old, new, column, row_id, value)) for row_id, value in batch]
                await store.replace_sealed_values(conn, column, resealed)
                done += len(batch)
                progress(done, total)
        return done

    return await database.write(body)


def _reseal(old: SecretBox, new: SecretBox, column: store.SealedColumn, row_id: str, value: str) -> str:
    try:
        return new.encrypt(old.decrypt(value))
    except MasterKeyError as error:
        raise FailedPrecondition(
            "Errors.MasterKey.Unreadable",
            f"{column.label} of row {row_id} does not decrypt with the current master key; nothing was changed",
        ) from error


async def rotate_key_file(database: Database, data_dir: Path, progress: Progress) -> int:
    """Rotate the key kept in ``data_dir/master.key``; the old one is kept as ``master.key.old``."""
    current, pending = data_dir / MASTER_KEY_FILE, data_dir / NEW_KEY_FILE
    old_key = read_key_file(current)
    await verify_master_key(database, SecretBox(old_key), data_dir, from_environment=False)
    new_key = os.urandom(32)
    # Durable before the commit: once the commit is through, this file is the only key that opens the data.
    write_key_file(pending, new_key)
    try:
        count = await reseal_all(database, SecretBox(old_key), SecretBox(new_key), progress)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    install_new_key(data_dir)
    return count


def install_new_key(data_dir: Path) -> None:
    """Keep ``master.key`` as ``master.key.old`` and move ``master.key.new`` in its place."""
    current = data_dir / MASTER_KEY_FILE
    write_key_file(data_dir / OLD_KEY_FILE, read_key_file(current))
    os.replace(data_dir / NEW_KEY_FILE, current)
    fsync_directory(data_dir)


async def rotate_environment_key(
    database: Database, configured: str, data_dir: Path, announce: Callable[[str], None], progress: Progress
) -> int:
    """Rotate a key given in CALLOUT_MASTER_KEY; ``announce`` gets the new key before the commit."""
    try:
        old_key = decode_master_key(configured)
    except MasterKeyError as error:
        raise FailedPrecondition("Errors.MasterKey.Invalid", f"{ENVIRONMENT_VARIABLE}: {error}") from error
    await verify_master_key(database, SecretBox(old_key), data_dir, from_environment=True)
    new_key = os.urandom(32)
    # Shown before the commit: a crash right after it must not take the only copy of the new key along.
    announce(encode_key(new_key))
    return await reseal_all(database, SecretBox(old_key), SecretBox(new_key), progress)


async def rotate_master_key(settings: Settings, announce: Callable[[str], None], progress: Progress) -> int:
    """Rotate the configured master key (file or CALLOUT_MASTER_KEY); return how many secrets were re-encrypted."""
    database = _open_existing_database(settings)
    try:
        with _no_process_running(settings):
            async with database.read() as conn:
                if not await store.has_sealed_tables(conn):
                    raise FailedPrecondition("Errors.MasterKey.NoSchema", "the database has no callout tables")
            if settings.master_key is None:
                return await rotate_key_file(database, settings.data_dir, progress)
            configured = settings.master_key.get_secret_value()
            return await rotate_environment_key(database, configured, settings.data_dir, announce, progress)
    finally:
        await database.close()


def _open_existing_database(settings: Settings) -> Database:
    path = sqlite_file(settings.resolved_database_url)
    if path is not None and not path.is_file():
        raise FailedPrecondition("Errors.MasterKey.NoDatabase", f"there is no database at {path}")
    return Database(settings.resolved_database_url)


@contextlib.contextmanager
def _no_process_running(settings: Settings) -> Iterator[None]:
    # On SQLite, serve and worker hold the data directory's lock: while we hold it none can run, and
    # none keeps using (and writing secrets under) the old key. PostgreSQL has no such lock: the docs
    # say to stop every process first.
    if sqlite_file(settings.resolved_database_url) is None or not settings.data_dir.is_dir():
        yield
        return
    try:
        handle = lock_sqlite_data_dir(settings.data_dir)
    except FailedPrecondition as error:
        raise FailedPrecondition(
            "Errors.MasterKey.ServerRunning",
            f"a callout server or worker is using {settings.data_dir}: stop it before rotating the master key",
        ) from error
    with handle:
        yield
