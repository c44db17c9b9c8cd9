"""What ``callout config show`` prints for each setting: values, sources, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from callout.cli_config import as_document, render, shown_values
from callout.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def no_callout_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without CALLOUT_* variables, whatever the shell running pytest has set."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLOUT_"):
            monkeypatch.delenv(name)


class TestRedaction:
    def test_master_key_is_hidden(self, tmp_path: Path) -> None:
        """A set master key is shown as *** only."""
        key = "c2VjcmV0LW1hc3Rlci1rZXktb2YtMzItYnl0ZXMhISE="  # base64 of 32 bytes, as the setting requires
        loaded = load_settings({"data_dir": tmp_path, "master_key": key})
        assert shown_values(loaded)["master_key"] == ("***", "flag")
        assert key not in str(as_document(loaded))

    def test_database_password_is_hidden(self, tmp_path: Path) -> None:
        """The password in the database URL is replaced by ***; the rest of the URL stays readable."""
        url = "postgresql+psycopg://callout:s3cret-pw@db.internal:5432/callout"
        loaded = load_settings({"data_dir": tmp_path, "database_url": url})
        value, _source = shown_values(loaded)["database_url"]
        assert value == "postgresql+psycopg://callout:***@db.internal:5432/callout"

    def test_unparseable_database_url_is_refused_without_its_password(self, tmp_path: Path) -> None:
        """A database URL that cannot be parsed is refused, and the error does not repeat its password."""
        with pytest.raises(ConfigError) as refused:
            load_settings({"data_dir": tmp_path, "database_url": "not a url:s3cret-pw"})
        assert ("database_url" in str(refused.value), "s3cret-pw" in str(refused.value)) == (True, False)

    def test_database_password_in_the_query_is_hidden(self, tmp_path: Path) -> None:
        """A password given as a libpq query parameter (``?password=``) is replaced by *** too."""
        url = "postgresql+psycopg://callout@db.internal/callout?password=s3cret-pw&sslmode=require"
        loaded = load_settings({"data_dir": tmp_path, "database_url": url})
        value, _source = shown_values(loaded)["database_url"]
        assert value == "postgresql+psycopg://callout@db.internal/callout?password=***&sslmode=require"


class TestRender:
    @pytest.mark.parametrize(
        ("value", "cell"),
        [(None, ""), ("30d", "30d"), (8080, "8080"), (False, "false"), (["10.0.0.0/8"], '["10.0.0.0/8"]')],
    )
    def test_values_become_one_cell(self, value: object, cell: str) -> None:
        """Nothing is empty, text is itself, anything else is compact JSON."""
        assert render(value) == cell
