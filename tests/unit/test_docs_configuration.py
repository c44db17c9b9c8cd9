"""docs/configuration.md lists every setting with its variable, flags and default as the code has them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest

from callout.cli import main
from callout.config import env_variable
from callout.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SETTINGS = list(Settings.model_fields)


def documented_rows() -> dict[str, list[str]]:
    """The six-column rows of the settings tables, by key (the first cell's backticked name)."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    return rows


def documented_default(cell: str) -> Any:
    """A default cell's value: ``—`` is unset (None), else the JSON/TOML literal in its first backticks."""
    if cell.startswith("—"):
        return None
    literal = re.match(r"`([^`]*)`", cell)
    assert literal is not None, f"default cell {cell!r} starts with neither — nor a `literal`"
    return json.loads(literal.group(1))


def flags_in_code() -> dict[str, set[str]]:
    """Every command-line option, of any command, whose value goes to a setting of the same name."""
    found: dict[str, set[str]] = {name: set() for name in SETTINGS}
    commands: list[click.Command] = [main]
    while commands:
        command = commands.pop()
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
        for param in command.params:
            if isinstance(param, click.Option) and param.name in found:
                found[param.name].update(opt for opt in param.opts if opt.startswith("--"))
    return found


ROWS = documented_rows()
CODE_DEFAULTS = Settings.model_construct().model_dump(mode="json")
CODE_FLAGS = flags_in_code()


def test_every_setting_is_documented() -> None:
    """Each Settings field has a row in docs/configuration.md, and each row is a Settings field."""
    assert sorted(ROWS) == sorted(SETTINGS)


@pytest.mark.parametrize("name", SETTINGS)
def test_documented_variable_is_the_one_read(name: str) -> None:
    """The env variable column names CALLOUT_<KEY>, the variable pydantic-settings reads."""
    assert ROWS[name][1] == f"`{env_variable(name)}`"


@pytest.mark.parametrize("name", SETTINGS)
def test_documented_default_is_the_code_default(name: str) -> None:
    """The default column's literal equals the default in settings.py."""
    assert documented_default(ROWS[name][4]) == CODE_DEFAULTS[name]


@pytest.mark.parametrize("name", SETTINGS)
def test_documented_flags_are_the_cli_options(name: str) -> None:
    """The flag column names exactly the command-line options that set this setting."""
    assert set(re.findall(r"`(--[a-z-]+)`", ROWS[name][2])) == CODE_FLAGS[name]
