"""Where settings come from (docs/configuration.md): flags > CALLOUT_* variables > TOML file > defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callout.config import ConfigError, load_settings
from callout.settings import Settings

WriteConfig = Callable[..., Path]


@pytest.fixture(autouse=True)
def no_callout_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without CALLOUT_* variables, whatever the shell running pytest has set."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLOUT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Factory: write TOML text to a file (default callout.toml in a fresh data dir) and return its path."""

    def write(text: str, path: Path | None = None) -> Path:
        target = path or tmp_path / "data" / "callout.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    return write


def load(**given: Any) -> Any:
    """load_settings with the options a command was given."""
    return load_settings(given)


class TestPrecedence:
    def test_default_when_nothing_sets_a_value(self, tmp_path: Path) -> None:
        """With no flag, variable or file, a setting has its default and says so."""
        loaded = load(data_dir=tmp_path)
        assert (loaded.settings.port, loaded.sources["port"]) == (8080, "default")

    def test_file_overrides_the_default(self, write_config: WriteConfig) -> None:
        """A key in the data dir's callout.toml replaces the default and names the file as its source."""
        path = write_config("port = 9001\n")
        loaded = load(data_dir=path.parent)
        assert (loaded.settings.port, loaded.sources["port"]) == (9001, f"file {path}")

    def test_environment_overrides_the_file(self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
        """CALLOUT_PORT wins over port in the file."""
        path = write_config("port = 9001\n")
        monkeypatch.setenv("CALLOUT_PORT", "9002")
        loaded = load(data_dir=path.parent)
        assert (loaded.settings.port, loaded.sources["port"]) == (9002, "env CALLOUT_PORT")

    def test_flag_overrides_the_environment(self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
        """An option given on the command line wins over the variable and the file."""
        path = write_config("port = 9001\n")
        monkeypatch.setenv("CALLOUT_PORT", "9002")
        loaded = load(data_dir=path.parent, port=9003)
        assert (loaded.settings.port, loaded.sources["port"]) == (9003, "flag")

    def test_option_not_given_does_not_override(self, write_config: WriteConfig) -> None:
        """An option left out (None) leaves the file's value in place."""
        path = write_config("port = 9001\n")
        assert load(data_dir=path.parent, port=None).settings.port == 9001

    def test_a_list_replaces_the_lower_level_whole(
        self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A list from the environment replaces the file's list instead of being merged with it."""
        path = write_config('egress_allow = ["10.0.0.0/8"]\n')
        monkeypatch.setenv("CALLOUT_EGRESS_ALLOW", '["192.168.0.0/16"]')
        assert load(data_dir=path.parent).settings.egress_allow == ["192.168.0.0/16"]


class TestFileValues:
    def test_durations_lists_and_tables_are_read(self, write_config: WriteConfig) -> None:
        """A duration string, a list and a table in the file become the settings' values."""
        text = 'retention = "7d"\negress_deny = ["bad.example"]\n[egress_resolve]\n"hooks.internal" = ["10.0.0.5"]\n'
        settings = load(data_dir=write_config(text).parent).settings
        assert settings.retention == timedelta(days=7)
        assert (settings.egress_deny, settings.egress_resolve) == (["bad.example"], {"hooks.internal": ["10.0.0.5"]})

    def test_relative_path_is_next_to_the_file(self, write_config: WriteConfig) -> None:
        """A relative catalog_file in the file names a file in the file's own directory."""
        path = write_config('catalog_file = "catalog.json"\n')
        assert load(data_dir=path.parent).settings.catalog_file == path.parent / "catalog.json"

    def test_missing_file_in_the_data_dir_is_no_settings(self, tmp_path: Path) -> None:
        """A data dir without callout.toml runs on the defaults and reports no file found."""
        loaded = load(data_dir=tmp_path)
        assert not loaded.file_found
        assert loaded.file.path == tmp_path / "callout.toml"


class TestChoosingTheFile:
    def test_data_dir_from_the_environment_locates_the_file(
        self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CALLOUT_DATA_DIR is where callout.toml is looked for when no --data-dir is given."""
        path = write_config("workers = 3\n")
        monkeypatch.setenv("CALLOUT_DATA_DIR", str(path.parent))
        assert load().settings.workers == 3

    def test_config_flag_reads_a_file_anywhere(self, write_config: WriteConfig, tmp_path: Path) -> None:
        """--config reads that file, and the data dir's callout.toml is then not read."""
        write_config("workers = 3\n")
        chosen = write_config("workers = 4\n", tmp_path / "etc" / "chosen.toml")
        loaded = load(data_dir=tmp_path / "data", config=chosen)
        assert (loaded.settings.workers, loaded.sources["workers"]) == (4, f"file {chosen}")

    def test_config_variable_reads_a_file(
        self, write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CALLOUT_CONFIG names the file when no --config is given."""
        monkeypatch.setenv("CALLOUT_CONFIG", str(write_config("workers = 5\n", tmp_path / "env.toml")))
        assert load(data_dir=tmp_path).settings.workers == 5

    def test_config_flag_overrides_the_config_variable(
        self, write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--config wins over CALLOUT_CONFIG."""
        monkeypatch.setenv("CALLOUT_CONFIG", str(write_config("workers = 5\n", tmp_path / "env.toml")))
        chosen = write_config("workers = 6\n", tmp_path / "flag.toml")
        assert load(config=chosen).settings.workers == 6

    def test_config_file_may_choose_the_data_dir(self, write_config: WriteConfig, tmp_path: Path) -> None:
        """data_dir in a --config file sets the data directory, relative to the file."""
        chosen = write_config('data_dir = "state"\n', tmp_path / "etc" / "callout.toml")
        assert load(config=chosen).settings.data_dir == tmp_path / "etc" / "state"


class TestRefusals:
    def test_unknown_key_names_the_key_and_the_file(self, write_config: WriteConfig) -> None:
        """A misspelt key is an error naming it, the file, and the setting it probably meant."""
        path = write_config("prot = 9000\n")
        with pytest.raises(ConfigError, match=rf"unknown setting 'prot' in config file {path} \(did you mean 'port'"):
            load(data_dir=path.parent)

    def test_setting_below_a_table_header_says_so(self, write_config: WriteConfig) -> None:
        """A setting written after [egress_resolve] is named as inside that table, not as a bad host entry."""
        path = write_config('[egress_resolve]\n"hooks.internal" = ["10.0.0.5"]\nport = 9001\n')
        with pytest.raises(ConfigError, match=r"setting 'port' is inside the \[egress_resolve\] table"):
            load(data_dir=path.parent)

    def test_malformed_toml_names_the_line(self, write_config: WriteConfig) -> None:
        """A file that is not TOML is an error naming the file and the line."""
        path = write_config('port = 9000\nhost = "127.0.0.1\n')
        with pytest.raises(ConfigError, match=rf"{path} is not valid TOML: .*line 2"):
            load(data_dir=path.parent)

    def test_file_in_the_data_dir_cannot_choose_the_data_dir(self, write_config: WriteConfig) -> None:
        """data_dir in the data dir's own callout.toml is an error, not silently ignored."""
        path = write_config('data_dir = "/elsewhere"\n')
        with pytest.raises(ConfigError, match="cannot choose the data directory"):
            load(data_dir=path.parent)

    def test_missing_chosen_file_is_an_error(self, tmp_path: Path) -> None:
        """A --config file that does not exist is an error, unlike a missing callout.toml in the data dir."""
        with pytest.raises(ConfigError, match="does not exist"):
            load(config=tmp_path / "missing.toml")

    def test_invalid_value_names_its_source(self, write_config: WriteConfig) -> None:
        """A value out of range is an error naming the setting and the file it came from."""
        path = write_config("port = 70000\n")
        with pytest.raises(ConfigError, match=rf"invalid setting port \(file {path}\)"):
            load(data_dir=path.parent)

    def test_invalid_secret_is_not_echoed(self, write_config: WriteConfig) -> None:
        """An invalid master key's message names the setting but leaves its value out."""
        path = write_config("master_key = 987654321\n")
        with pytest.raises(ConfigError, match="master_key") as raised:
            load(data_dir=path.parent)
        assert "987654321" not in str(raised.value)

    @pytest.mark.parametrize("key", ["not-base64-key-text", "AAAAAAAAAAAAAAAAAAAAAA=="])
    def test_malformed_master_key_is_refused_without_echoing_it(
        self, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A master key that is not base64 of 32 bytes is a setting error naming its variable, not its value."""
        monkeypatch.setenv("CALLOUT_MASTER_KEY", key)
        with pytest.raises(ConfigError, match=r"master_key \(env CALLOUT_MASTER_KEY\): .*32 random bytes") as raised:
            load(data_dir=tmp_path)
        assert key not in str(raised.value)

    def test_invalid_json_in_the_environment_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A list variable that is not JSON is an error naming the variable."""
        monkeypatch.setenv("CALLOUT_EGRESS_ALLOW", "[10.0.0.0/8")
        with pytest.raises(ConfigError, match="CALLOUT_EGRESS_ALLOW is not valid JSON"):
            load(data_dir=tmp_path)


class TestSettingsAlone:
    def test_settings_without_the_loader_read_no_file(self, write_config: WriteConfig) -> None:
        """Settings() itself reads only the environment, so library use is not changed by a stray file."""
        path = write_config("port = 9001\n")
        assert Settings(data_dir=path.parent).port == 8080


class TestUnreadableFiles:
    def test_file_that_is_not_utf8_is_an_error(self, write_config: WriteConfig) -> None:
        """A config file in another encoding is an error naming the file, not a traceback."""
        path = write_config("")
        path.write_bytes('host = "caf\xe9"\n'.encode("latin-1"))
        with pytest.raises(ConfigError, match=rf"config file {path} is not UTF-8"):
            load(data_dir=path.parent)

    def test_empty_config_variable_means_none(self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
        """CALLOUT_CONFIG set to an empty string falls back to the data dir's callout.toml."""
        path = write_config("workers = 7\n")
        monkeypatch.setenv("CALLOUT_CONFIG", "")
        assert load(data_dir=path.parent).settings.workers == 7


class TestExposedSecrets:
    """A config file holding a secret should be readable by its owner only (docs/configuration.md)."""

    KEY = "master_key = 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE='\n"

    def test_a_readable_file_with_the_master_key_warns_without_the_key(
        self, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A 0644 file holding master_key gets one warning line naming chmod 600, never the key itself."""
        path = write_config(self.KEY)
        path.chmod(0o644)
        load(data_dir=tmp_path / "data")
        warning = capsys.readouterr().err
        assert ("chmod 600" in warning, "master_key" in warning, "QUFB" in warning) == (True, True, False)

    def test_a_private_file_with_the_master_key_is_quiet(
        self, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A 0600 file holding master_key gives no warning."""
        write_config(self.KEY).chmod(0o600)
        load(data_dir=tmp_path / "data")
        assert capsys.readouterr().err == ""

    def test_a_database_url_without_password_is_not_a_secret(
        self, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A readable file whose database URL has no password gives no warning."""
        write_config("database_url = 'postgresql://callout@db/callout'\n").chmod(0o644)
        load(data_dir=tmp_path / "data")
        assert capsys.readouterr().err == ""

    def test_a_database_url_with_a_password_warns(
        self, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A readable file whose database URL carries a password warns, naming database_url only."""
        write_config("database_url = 'postgresql://callout:pw@db/callout'\n").chmod(0o640)
        load(data_dir=tmp_path / "data")
        warning = capsys.readouterr().err
        assert ("database_url" in warning, ":pw@" in warning) == (True, False)


def test_a_file_larger_than_a_megabyte_is_refused(tmp_path: Path) -> None:
    """A config "file" that never ends (such as /dev/zero) is refused after 1 MiB, not read forever."""
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load(data_dir=tmp_path, config=huge)
