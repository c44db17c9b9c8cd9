"""``callout config show`` and ``callout.toml`` as a real process sees them (docs/configuration.md)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunCli, StartServer, child_environment, run_callout

pytestmark = pytest.mark.e2e

MASTER_KEY = "Y29uZmlnLWUyZS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
DB_PASSWORD = "e2e-db-pw-7f3a"
FROM_FILE_URL = "https://from-the-file.example"


def write_data_dir_config(data_dir: Path, text: str) -> Path:
    """Write callout.toml into a data directory; return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "callout.toml"
    path.write_text(text)
    return path


def show_sources(stdout: str) -> dict[str, tuple[str, str]]:
    """The piped (tab-separated) ``config show`` table as setting -> (value, source)."""
    lines = stdout.splitlines()
    assert lines[0] == "setting\tvalue\tsource", stdout
    return {name: (value, source) for name, value, source in (line.split("\t") for line in lines[1:])}


Shown = tuple[dict[str, tuple[str, str]], str, Path]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> Shown:
    """``config show`` piped (one real process), with a data-dir file, a variable and a flag."""
    path = write_data_dir_config(
        tmp_path_factory.mktemp("config") / "data", f'port = 9123\nworkers = 2\nmaster_key = "{MASTER_KEY}"\n'
    )
    url = f"postgresql+psycopg://callout:{DB_PASSWORD}@127.0.0.1:5432/test"
    env = {**child_environment(), "CALLOUT_WORKERS": "5"}
    result = run_callout("config", "show", "--data-dir", str(path.parent), "--database-url", url, env=env)
    return show_sources(result.stdout), result.stdout + result.stderr, path


class TestConfigShow:
    """Flags, environment, file and defaults together, each value reported with its source."""

    def test_each_level_is_reported_with_its_source(self, shown: Shown) -> None:
        """The file sets port, the variable overrides the file's workers, the flag sets the URL, host is default."""
        table, _raw, path = shown
        assert table["port"] == ("9123", f"file {path}")
        assert table["workers"] == ("5", "env CALLOUT_WORKERS")
        assert table["database_url"][1] == "flag"
        assert table["host"] == ("127.0.0.1", "default")

    def test_secrets_are_redacted(self, shown: Shown) -> None:
        """Neither the master key nor the database password appears in the output; both show as ***."""
        table, raw, _path = shown
        assert MASTER_KEY not in raw
        assert DB_PASSWORD not in raw
        assert table["master_key"][0] == "***"
        assert table["database_url"][0] == "postgresql+psycopg://callout:***@127.0.0.1:5432/test"

    def test_json_names_the_file_read(self, cli_in_process: RunCli, tmp_path: Path) -> None:
        """--json prints one object with the file that was read and each setting's value and source."""
        chosen = tmp_path / "chosen.toml"
        chosen.write_text('retention = "7d"\n')
        result = cli_in_process("config", "show", "--config", str(chosen), "--data-dir", str(tmp_path), "--json")
        document = json.loads(result.stdout)
        assert document["config_file"] == str(chosen)
        assert document["settings"]["retention"] == {"value": "7d", "source": f"file {chosen}"}


class TestBadConfigFile:
    """A broken config file stops every command with one line and exit status 1, never a traceback."""

    def test_process_prints_one_line_and_no_traceback(self, cli: RunCli, tmp_path: Path) -> None:
        """A real ``migrate`` process on a data dir with an unknown key exits 1 with one Error: line."""
        path = write_data_dir_config(tmp_path / "data", "prot = 9000\n")
        result = cli("migrate", "--data-dir", str(path.parent), check=False)
        assert result.returncode == 1
        assert result.stderr == f"Error: unknown setting 'prot' in config file {path} (did you mean 'port'?)\n"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('port = 9000\nhost = "127.0.0.1\n', "line 2"),
            ("port = 70000\n", "invalid setting port"),
        ],
        ids=["malformed", "out-of-range"],
    )
    def test_bad_file_is_one_line_error(self, cli_in_process: RunCli, tmp_path: Path, text: str, expected: str) -> None:
        """``migrate`` on a data dir with a bad callout.toml exits 1 with one Error: line naming the file."""
        path = write_data_dir_config(tmp_path / "data", text)
        result = cli_in_process("migrate", "--data-dir", str(path.parent), check=False)
        assert result.returncode == 1
        assert result.stderr.startswith("Error:"), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr
        assert str(path) in result.stderr


class TestServeReadsTheFile:
    def test_setting_from_the_data_dir_file_takes_effect(self, start_server: StartServer, tmp_path: Path) -> None:
        """``serve`` uses external_url from callout.toml in its data dir as the discovery issuer."""
        data_dir = tmp_path / "data"
        write_data_dir_config(data_dir, f'external_url = "{FROM_FILE_URL}"\n')
        server = start_server("sqlite", data_dir=data_dir)
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10.0) as client:
            document = client.get("/.well-known/openid-configuration").json()
        assert document["issuer"] == FROM_FILE_URL
