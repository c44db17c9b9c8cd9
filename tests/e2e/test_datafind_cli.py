"""Finding the data from the command line (docs/operations.md#finding-the-data).

Only ``serve``, ``worker`` and ``migrate`` create a data directory, a database or a master key; every
other command says where it looked. ``--instance`` defaults to the only instance. PostgreSQL URLs are
accepted as people write them, and a database that cannot be used is named in one line.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import MakeDatabase, RunCli, free_port

pytestmark = pytest.mark.e2e

NO_DATA = "no callout data in {path}; pass --data-dir or set CALLOUT_DATA_DIR"
COMMANDS_THAT_NEVER_CREATE = [
    ("instances", "list"),
    ("instances", "create", "--name", "x"),
    ("instances", "set-feature", "1", "actions", "off"),
    ("tokens", "create"),
    ("tokens", "list"),
    ("tokens", "revoke", "1"),
    ("webkeys", "rotate"),
    ("deliveries", "list"),
    ("deliveries", "show", "1"),
    ("deliveries", "redeliver", "1"),
]


def with_password(url: str, password: str) -> str:
    """The test database URL with a password in it (trust authentication ignores it)."""
    return url.replace("postgres@", f"postgres:{password}@", 1)


class TestNoData:
    """Commands other than serve, worker and migrate on missing data."""

    def test_instances_list_in_an_empty_directory_creates_nothing(self, cli: RunCli, tmp_path: Path) -> None:
        """``instances list`` (a real process) in an empty directory exits 1 naming where it looked; creates nothing."""
        result = cli("instances", "list", check=False, cwd=tmp_path)
        expected = NO_DATA.format(path=(tmp_path / "callout-data").resolve())
        assert (result.returncode, result.stderr, result.stdout) == (1, f"Error: {expected}\n", "")
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("command", COMMANDS_THAT_NEVER_CREATE, ids=" ".join)
    def test_command_refuses_to_create_data(
        self, cli_in_process: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
    ) -> None:
        """Each administration command in an empty directory exits 1 with the no-data line and creates nothing."""
        monkeypatch.chdir(tmp_path)
        result = cli_in_process(*command, check=False)
        expected = NO_DATA.format(path=(tmp_path / "callout-data").resolve())
        assert (result.returncode, result.stderr) == (1, f"Error: {expected}\n")
        assert list(tmp_path.iterdir()) == []

    def test_given_data_dir_without_a_database_is_named(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """An existing but empty --data-dir is no data either: the message names that directory."""
        result = cli_in_process("tokens", "list", "--data-dir", str(tmp_path), check=False)
        assert (result.returncode, result.stderr) == (1, f"Error: {NO_DATA.format(path=tmp_path.resolve())}\n")
        assert list(tmp_path.iterdir()) == []

    def test_missing_sqlite_file_is_named_and_not_created(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """A --database-url naming a SQLite file that does not exist exits 1 naming the file, and leaves it absent."""
        missing = tmp_path / "elsewhere.db"
        args = ("--data-dir", str(tmp_path / "data"), "--database-url", f"sqlite:///{missing}")
        result = cli_in_process("instances", "list", *args, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith(f"Error: no callout data in {missing};"), result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_postgres_without_schema_says_to_migrate(
        self, cli_in_process: RunCli, make_database: MakeDatabase, tmp_path: Path
    ) -> None:
        """A PostgreSQL database without callout's schema: one line saying to run migrate; no password, no tables."""
        database = make_database("postgresql")
        assert database.url is not None
        url = with_password(database.url, "s3cret-pw")
        args = ("--data-dir", str(tmp_path / "data"), "--database-url", url)
        result = cli_in_process("instances", "list", *args, check=False)
        assert result.returncode == 1
        assert re.fullmatch(
            r"Error: the database at postgresql\+psycopg://postgres:\*\*\*@\S+ has no callout "
            r"schema; run `callout migrate`\n",
            result.stderr,
        ), result.stderr
        assert "s3cret-pw" not in result.stderr
        assert database.dump(tmp_path) == ""
        assert list(tmp_path.iterdir()) == []


class TestMasterKey:
    """A master key is never created next to a database that already holds callout data."""

    def test_migrate_refuses_to_replace_a_lost_master_key(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """``migrate`` on data whose master.key is gone exits 1 naming the file and writes no new key."""
        data_dir = tmp_path / "data"
        cli_in_process("migrate", "--data-dir", str(data_dir))
        (data_dir / "master.key").unlink()
        result = cli_in_process("migrate", "--data-dir", str(data_dir), check=False)
        assert result.returncode == 1
        assert str((data_dir / "master.key").resolve()) in result.stderr
        assert "CALLOUT_MASTER_KEY" in result.stderr
        assert not (data_dir / "master.key").exists()


class TestInstanceDefault:
    """``--instance`` defaults to the only instance; with none or several the error says which exist."""

    @pytest.fixture
    def data_dir(self, cli_in_process: RunCli, tmp_path: Path) -> Path:
        """A migrated data directory without instances."""
        cli_in_process("migrate", "--data-dir", str(tmp_path))
        return tmp_path

    def test_no_instance_says_how_to_create_one(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """``tokens create`` without instances exits 1 pointing at ``instances create``."""
        result = cli_in_process("tokens", "create", "--data-dir", str(data_dir), check=False)
        assert result.returncode == 1
        assert "callout instances create" in result.stderr

    def test_the_only_instance_is_the_default(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """``tokens create`` without --instance acts in the only instance."""
        instance_id = cli_in_process("instances", "create", "--name", "alpha", "--data-dir", str(data_dir)).stdout
        result = cli_in_process("tokens", "create", "--data-dir", str(data_dir))
        assert f"instance {instance_id.strip()})" in result.stderr

    def test_several_instances_are_listed_with_their_names(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """With two instances and no --instance, the error lists both as ``id (name)``."""
        ids = [
            cli_in_process("instances", "create", "--name", name, "--data-dir", str(data_dir)).stdout.strip()
            for name in ("alpha", "beta")
        ]
        result = cli_in_process("webkeys", "rotate", "--data-dir", str(data_dir), check=False)
        assert result.returncode == 1
        assert f"{ids[0]} (alpha)" in result.stderr
        assert f"{ids[1]} (beta)" in result.stderr

    def test_a_given_instance_is_used_among_several(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """--instance still chooses among several instances."""
        for name in ("alpha", "beta"):
            chosen = cli_in_process("instances", "create", "--name", name, "--data-dir", str(data_dir)).stdout.strip()
        result = cli_in_process("tokens", "create", "--instance", chosen, "--data-dir", str(data_dir))
        assert f"instance {chosen})" in result.stderr

    def test_webkeys_rotate_defaults_to_the_only_instance(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """``webkeys rotate`` without --instance rotates the only instance's key and prints a kid."""
        cli_in_process("instances", "create", "--name", "alpha", "--data-dir", str(data_dir))
        result = cli_in_process("webkeys", "rotate", "--data-dir", str(data_dir))
        assert result.stdout.strip()

    def test_deliveries_list_defaults_to_the_only_instance(self, cli_in_process: RunCli, data_dir: Path) -> None:
        """``deliveries list`` without --instance lists the only instance's (no) deliveries."""
        cli_in_process("instances", "create", "--name", "alpha", "--data-dir", str(data_dir))
        result = cli_in_process("deliveries", "list", "--data-dir", str(data_dir))
        assert result.stderr.strip().endswith("0 of 0")


class TestDatabaseUrls:
    """PostgreSQL URLs as people write them, and unusable ones."""

    def test_postgres_scheme_is_accepted(
        self, cli_in_process: RunCli, make_database: MakeDatabase, tmp_path: Path
    ) -> None:
        """``postgres://`` (libpq, Heroku) migrates and then lists like ``postgresql+psycopg://``."""
        database = make_database("postgresql")
        assert database.url is not None
        url = database.url.replace("postgresql+psycopg://", "postgres://", 1)
        args = ("--data-dir", str(tmp_path), "--database-url", url)
        cli_in_process("migrate", *args)
        assert cli_in_process("instances", "list", *args).returncode == 0

    def test_unknown_scheme_is_one_line(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """An unknown scheme is a one-line settings error (exit 1) naming it, without the password."""
        result = cli_in_process(
            "migrate", "--data-dir", str(tmp_path), "--database-url", "mysql://u:pw@127.0.0.1/x", check=False
        )
        assert result.returncode == 1
        assert "unsupported database URL (scheme 'mysql')" in result.stderr
        assert "u:pw" not in result.stderr

    def test_unknown_role_is_named(self, cli_in_process: RunCli, postgres_ready: bool, tmp_path: Path) -> None:
        """A role PostgreSQL does not know: exit 1, 'authentication failed (the role does not exist)'."""
        if not postgres_ready:
            pytest.skip("PostgreSQL is not reachable")
        url = POSTGRES_URL.replace("postgres@", "callout_no_such_role@", 1)
        result = cli_in_process("migrate", "--data-dir", str(tmp_path), "--database-url", url, check=False)
        assert result.returncode == 1
        assert "authentication failed (the role does not exist)" in result.stderr

    def test_refused_connection_stops_serve_with_one_line(self, cli: RunCli, tmp_path: Path) -> None:
        """``serve`` (a real process) on a closed port exits 1 with one line naming 'connection refused'."""
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
        result = cli("serve", "--data-dir", str(tmp_path), "--database-url", url, check=False)
        assert (result.returncode, result.stderr.splitlines()) == (
            1,
            ["Error: Errors.Database.Unavailable (the database cannot be reached: connection refused)"],
        )


class TestNewerSchema:
    """An older callout on a database migrated by a newer one."""

    def test_admin_command_refuses_a_newer_schema(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """A database stamped with an unknown revision makes an admin command exit 1 saying to upgrade callout."""
        cli_in_process("migrate", "--data-dir", str(tmp_path))
        with sqlite3.connect(tmp_path / "callout.db") as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
        result = cli_in_process("instances", "list", "--data-dir", str(tmp_path), check=False)
        assert (result.returncode, result.stderr) == (
            1,
            "Error: the database schema is newer than this callout (revision ffff_from_the_future); upgrade callout\n",
        )
