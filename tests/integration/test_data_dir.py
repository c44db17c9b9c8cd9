"""Owner-only modes of the data directory (0700) and the SQLite files (0600), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callout.services.runtime import open_context
from callout.settings import Settings

SQLITE_FILES = ("callout.db", "callout.db-wal", "callout.db-shm")


def mode(path: Path) -> int:
    """The permission bits of a file or directory."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run the test with umask 000, so that only explicit modes keep files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


async def open_and_write(data_dir: Path) -> None:
    """Open the services on a SQLite database in ``data_dir`` and write once (WAL and SHM exist after)."""
    context = await open_context(Settings(data_dir=data_dir, master_key=None), create=True)
    try:
        async with context.database.transaction() as conn:
            await conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        for name in SQLITE_FILES:
            assert (data_dir / name).exists(), name
        assert {name: mode(data_dir / name) for name in SQLITE_FILES} == dict.fromkeys(SQLITE_FILES, 0o600)
    finally:
        await context.close()


class TestDataDirModes:
    @pytest.mark.usefixtures("permissive_umask")
    async def test_new_data_dir_and_database_files_are_owner_only(self, tmp_path: Path) -> None:
        """Under umask 000 a new data dir is 0700 and callout.db, -wal and -shm are 0600."""
        data_dir = tmp_path / "new" / "data"
        await open_and_write(data_dir)
        assert mode(data_dir) == 0o700

    async def test_existing_open_data_dir_and_files_are_narrowed_and_logged(self, tmp_path: Path) -> None:
        """A data dir 0755, a database 0644 and a WAL 0666 from before become 0700 and 0600, one log line each."""
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        os.chmod(data_dir, 0o755)
        for name, old_mode in [("callout.db", 0o644), ("callout.db-wal", 0o666)]:
            (data_dir / name).touch()
            os.chmod(data_dir / name, old_mode)
        with capture_logs() as logs:
            await open_and_write(data_dir)
        assert mode(data_dir) == 0o700
        fixed = {Path(entry["path"]).name for entry in logs if entry["event"] == "datadir.mode_fixed"}
        assert fixed == {"data", "callout.db", "callout.db-wal"}

    async def test_private_data_dir_is_left_alone_silently(self, tmp_path: Path) -> None:
        """A second start on an already private data dir changes and logs nothing."""
        await open_and_write(tmp_path / "data")
        with capture_logs() as logs:
            await open_and_write(tmp_path / "data")
        assert not [entry for entry in logs if entry["event"] == "datadir.mode_fixed"]
