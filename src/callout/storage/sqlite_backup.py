"""An online copy of a SQLite database that a running server keeps writing to (docs/backups.md).

SQLite's backup API copies the database page by page. Normally a write by another connection between
two steps restarts the copy, so a busy server could keep a stepped backup from ever finishing. Here
the source connection opens one read transaction first and keeps it for the whole copy: every step
reads the same WAL snapshot, nothing restarts, and the copy is the database as of that moment. In WAL
mode (callout's servers always use it) a reader never blocks writers; the only cost is that the WAL
cannot be checkpointed past the snapshot until the copy ends.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from callout.errors import FailedPrecondition

# Progress is reported after each step: (pages copied, pages in all).
Progress = Callable[[int, int], None]
PAGES_PER_STEP = 1024
FILE_MODE = 0o600


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def copy_sqlite_online(source: Path, target: Path, progress: Progress, pages_per_step: int = PAGES_PER_STEP) -> int:
    """Copy the database at ``source`` into a new file ``target`` (0600, fsynced); return its page count.

    ``source`` must exist (it is never created); ``target`` must not. An SQLite error (not a database,
    disk full, …) is FailedPrecondition naming it, and no target file is left behind.
    """
    try:
        return _copy(source, target, progress, pages_per_step)
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise FailedPrecondition("Errors.Backup.Failed", f"copying {source} failed: {error}") from error
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _copy(source: Path, target: Path, progress: Progress, pages_per_step: int) -> int:
    reader = sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True, timeout=30, isolation_level=None)
    try:
        reader.execute("BEGIN")
        # The snapshot starts with the first read, not with BEGIN.
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _create_private(target)
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer, pages=pages_per_step, progress=lambda _s, left, total: progress(total - left, total))
            pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
        finally:
            writer.close()
        reader.execute("COMMIT")
    finally:
        reader.close()
    _fsync(target)
    return pages


def _create_private(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
