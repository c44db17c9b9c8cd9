"""Owner-only modes for the data directory (0700) and the SQLite files (0600), whatever the umask.

The data directory holds the master key, the admin token and, by default, the database with every
target's signing key (encrypted) and every event payload (in the clear). Modes are set explicitly
with chmod, which the umask does not narrow or widen, and fixed on every start for directories and
files made before (or by hand); each fix is logged.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger("callout.datadir")
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def secure_directory(path: Path) -> None:
    """Create the directory (and its parents) if needed and make it 0700."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _restrict(path, DIRECTORY_MODE)


def secure_sqlite_files(database: Path) -> None:
    """Create the database file 0600 if missing, and make it and its WAL, SHM and journal files 0600.

    SQLite creates its WAL and SHM files with the database file's mode, so a 0600 database keeps
    them 0600 too once they appear. A database in a missing directory is left to SQLite to report.
    """
    if not database.parent.is_dir():
        return
    descriptor = os.open(database, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(descriptor)
    for path in [database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)]:
        if path.exists():
            _restrict(path, FILE_MODE)


def _restrict(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current != mode:
        os.chmod(path, mode)
        log.warning("datadir.mode_fixed", path=str(path), was=oct(current), now=oct(mode))
