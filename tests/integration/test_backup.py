"""``callout backup``'s service on SQLite: an online, consistent copy into a servable directory (docs/backups.md)."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callout.errors import AlreadyExists, FailedPrecondition
from callout.services.backup import MasterKeyCopy, backup_data_dir
from callout.services.runtime import open_context
from callout.services.workers import lock_sqlite_data_dir
from callout.settings import Settings
from tests.conftest import POSTGRES_URL

WAIT_SECONDS = 10.0
MakeDataDir = Callable[..., Settings]


@pytest.fixture
def make_data_dir(tmp_path: Path) -> MakeDataDir:
    """Factory: settings of a data dir with a migrated SQLite database, master.key and ``filler_mb`` of blobs."""

    def make(filler_mb: int = 0, name: str = "data") -> Settings:
        settings = Settings(data_dir=tmp_path / name, master_key=None)

        async def initialise() -> None:
            await (await open_context(settings, create=True)).close()

        asyncio.run(initialise())
        with sqlite3.connect(settings.data_dir / "callout.db") as conn:
            conn.execute("CREATE TABLE probe (pair INTEGER, half INTEGER)")
            conn.execute("CREATE TABLE filler (blob BLOB)")
            conn.executemany("INSERT INTO filler VALUES (zeroblob(1048576))", [()] * filler_mb)
        return settings

    return make


def leave_uncheckpointed_wal(database: Path, statement: str) -> None:
    """Commit a statement into the WAL only and leave that WAL behind, as a process killed mid-run does."""
    wal = database.with_name(database.name + "-wal")
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(statement)
    kept = wal.read_bytes()
    conn.close()  # the last connection checkpoints and deletes the WAL; put it back
    wal.write_bytes(kept)


def ignore_progress(_done: int, _total: int) -> None:
    """A progress callback that shows nothing."""


def mode_of(path: Path) -> int:
    """The permission bits of a file or directory."""
    return stat.S_IMODE(path.stat().st_mode)


class PairWriter(threading.Thread):
    """Commits two probe rows per transaction until stopped, as a server writes during a backup."""

    def __init__(self, database: Path) -> None:
        super().__init__(daemon=True)
        self._database = database
        self._stopping = threading.Event()
        self.commits = 0
        self.committed = threading.Condition()

    def run(self) -> None:
        conn = sqlite3.connect(self._database, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        while not self._stopping.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO probe VALUES (?, ?)", [(self.commits, 0), (self.commits, 1)])
            conn.execute("COMMIT")
            with self.committed:
                self.commits += 1
                self.committed.notify_all()
        conn.close()

    def wait_for_commit_after(self, seen: int) -> bool:
        """Whether a transaction commits after ``seen`` commits, within the wait."""
        with self.committed:
            return self.committed.wait_for(lambda: self.commits > seen, timeout=WAIT_SECONDS)

    def stop(self) -> None:
        """End the loop and wait for the thread (again: no effect)."""
        self._stopping.set()
        if self.is_alive():
            self.join()


@pytest.fixture
def pair_writer() -> Iterator[Callable[[Path], PairWriter]]:
    """Factory: a started PairWriter on a database, stopped at the end."""
    writers: list[PairWriter] = []

    def start(database: Path) -> PairWriter:
        writer = PairWriter(database)
        writers.append(writer)
        writer.start()
        return writer

    yield start
    for writer in writers:
        writer.stop()


class TestOnlineBackup:
    def test_writers_commit_between_steps_and_the_copy_is_one_snapshot(
        self, make_data_dir: MakeDataDir, pair_writer: Callable[[Path], PairWriter], tmp_path: Path
    ) -> None:
        """A writer commits between every two steps, no step restarts the copy, and it holds whole transactions."""
        settings = make_data_dir(filler_mb=12)
        writer = pair_writer(settings.data_dir / "callout.db")
        steps: list[tuple[int, bool]] = []

        def progress(done: int, _total: int) -> None:
            if steps and done <= steps[-1][0]:
                raise AssertionError(f"the copy restarted: {done} pages after {steps[-1][0]}")
            steps.append((done, writer.wait_for_commit_after(writer.commits)))

        backup_data_dir(settings, tmp_path / "backup", force=False, with_master_key=True, progress=progress)
        writer.stop()
        with sqlite3.connect(tmp_path / "backup" / "callout.db") as copy:
            rows, pairs = copy.execute("SELECT count(*), count(DISTINCT pair) FROM probe").fetchone()
            integrity = copy.execute("PRAGMA integrity_check").fetchone()[0]
        committed = all(step[1] for step in steps)
        assert (len(steps) > 1, committed, rows, integrity, pairs < writer.commits) == (
            True,
            True,
            2 * pairs,
            "ok",
            True,
        )

    def test_progress_ends_at_every_page(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """Progress is reported in pages and ends at (all, all)."""
        settings = make_data_dir(filler_mb=5)
        seen: list[tuple[int, int]] = []
        result = backup_data_dir(
            settings, tmp_path / "backup", force=False, with_master_key=True, progress=lambda *p: seen.append(p)
        )
        assert (len(seen) > 1, seen[-1]) == (True, (result.pages, result.pages))


class TestBackupDirectory:
    def test_backup_holds_the_database_and_master_key_privately(
        self, make_data_dir: MakeDataDir, tmp_path: Path
    ) -> None:
        """The backup directory is 0700 with callout.db and the same master.key, both 0600."""
        settings = make_data_dir()
        destination = tmp_path / "backup"
        result = backup_data_dir(settings, destination, force=False, with_master_key=True, progress=ignore_progress)
        same_key = (destination / "master.key").read_bytes() == (settings.data_dir / "master.key").read_bytes()
        modes = [mode_of(destination), mode_of(destination / "callout.db"), mode_of(destination / "master.key")]
        assert (result.master_key, same_key, modes) == (MasterKeyCopy.COPIED, True, [0o700, 0o600, 0o600])

    def test_existing_destination_is_refused_without_force(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """An existing destination is AlreadyExists, and its files are left alone."""
        settings = make_data_dir()
        destination = tmp_path / "backup"
        destination.mkdir()
        (destination / "callout.db").write_text("earlier")
        with pytest.raises(AlreadyExists, match="use --force"):
            backup_data_dir(settings, destination, force=False, with_master_key=True, progress=ignore_progress)
        assert (destination / "callout.db").read_text() == "earlier"

    def test_force_overwrites_an_earlier_backup(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """With force the database of an existing backup directory is replaced by a readable copy."""
        settings = make_data_dir()
        destination = tmp_path / "backup"
        destination.mkdir()
        (destination / "callout.db").write_text("earlier")
        backup_data_dir(settings, destination, force=True, with_master_key=True, progress=ignore_progress)
        with sqlite3.connect(destination / "callout.db") as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def test_force_refuses_the_data_dir_of_a_running_server(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """While serve or worker holds the destination's process lock, --force leaves its database alone."""
        settings = make_data_dir()
        served = make_data_dir(name="served")
        before = (served.data_dir / "callout.db").read_bytes()
        with lock_sqlite_data_dir(served.data_dir), pytest.raises(FailedPrecondition, match="is using"):
            backup_data_dir(settings, served.data_dir, force=True, with_master_key=True, progress=ignore_progress)
        assert (served.data_dir / "callout.db").read_bytes() == before

    def test_force_drops_a_wal_left_by_a_crashed_server(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """A WAL left in the destination belongs to the old database and is not replayed onto the copy."""
        settings = make_data_dir()
        destination = make_data_dir(name="crashed").data_dir
        leave_uncheckpointed_wal(destination / "callout.db", "INSERT INTO probe VALUES (1, 1)")
        backup_data_dir(settings, destination, force=True, with_master_key=True, progress=ignore_progress)
        with sqlite3.connect(destination / "callout.db") as copy:
            assert copy.execute("SELECT count(*) FROM probe").fetchone()[0] == 0

    def test_the_data_dir_itself_is_refused_even_with_force(self, make_data_dir: MakeDataDir) -> None:
        """Backing up into the directory that holds the database is refused."""
        settings = make_data_dir()
        with pytest.raises(FailedPrecondition, match="holds the database"):
            backup_data_dir(settings, settings.data_dir, force=True, with_master_key=True, progress=ignore_progress)

    def test_environment_master_key_is_not_written(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """A key from CALLOUT_MASTER_KEY is reported and never written into the backup."""
        settings = make_data_dir().model_copy(update={"master_key": "configured"})
        destination = tmp_path / "backup"
        result = backup_data_dir(settings, destination, force=False, with_master_key=True, progress=ignore_progress)
        assert (result.master_key, (destination / "master.key").exists()) == (MasterKeyCopy.FROM_ENVIRONMENT, False)

    def test_master_key_can_be_left_out(self, make_data_dir: MakeDataDir, tmp_path: Path) -> None:
        """Without the master key the backup holds the database only."""
        settings = make_data_dir()
        destination = tmp_path / "backup"
        result = backup_data_dir(settings, destination, force=False, with_master_key=False, progress=ignore_progress)
        assert (result.master_key, (destination / "master.key").exists()) == (MasterKeyCopy.LEFT_OUT, False)


class TestRefusals:
    def test_postgresql_is_refused_pointing_at_pg_dump(self, tmp_path: Path) -> None:
        """A PostgreSQL database is FailedPrecondition naming pg_dump, without connecting or writing."""
        settings = Settings(data_dir=tmp_path / "data", database_url=POSTGRES_URL)
        with pytest.raises(FailedPrecondition, match="pg_dump"):
            backup_data_dir(settings, tmp_path / "backup", force=False, with_master_key=True, progress=ignore_progress)
        assert list(tmp_path.iterdir()) == []

    def test_a_file_that_is_no_database_is_one_error_and_leaves_no_copy(self, tmp_path: Path) -> None:
        """A corrupt database file fails with FailedPrecondition naming SQLite's error; no callout.db is left."""
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "callout.db").write_bytes(b"not a database" * 1000)
        settings = Settings(data_dir=tmp_path / "data")
        with pytest.raises(FailedPrecondition, match="not a database"):
            backup_data_dir(settings, tmp_path / "backup", force=False, with_master_key=True, progress=ignore_progress)
        assert not (tmp_path / "backup").exists()

    def test_an_interrupted_backup_leaves_no_directory_to_force(
        self, make_data_dir: MakeDataDir, tmp_path: Path
    ) -> None:
        """Ctrl-C during the copy removes the directory the backup made, so running it again needs no --force."""
        settings = make_data_dir(filler_mb=1)

        def interrupt(_done: int, _total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            backup_data_dir(settings, tmp_path / "backup", force=False, with_master_key=True, progress=interrupt)
        assert not (tmp_path / "backup").exists()

    def test_missing_database_is_refused_and_nothing_is_created(self, tmp_path: Path) -> None:
        """Without a database there is nothing to back up: no data dir and no backup directory appear."""
        settings = Settings(data_dir=tmp_path / "data")
        with pytest.raises(FailedPrecondition, match="no database"):
            backup_data_dir(settings, tmp_path / "backup", force=False, with_master_key=True, progress=ignore_progress)
        assert list(tmp_path.iterdir()) == []
