"""Where settings come from: flags, then ``CALLOUT_*`` variables, then a TOML file, then the defaults.

The file is ``--config FILE`` (or ``CALLOUT_CONFIG``), else ``callout.toml`` in the data directory if
there is one. Its keys are the settings' names (``port = 8080``); an unknown key is an error, so that a
typo does not silently fall back to a default. The data directory is found before the file is read, so
a file found there cannot choose the data directory (docs/configuration.md).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource
from pydantic_settings.exceptions import SettingsError

from callout.settings import Settings

CONFIG_FILE_NAME = "callout.toml"
CONFIG_VARIABLE = "CALLOUT_CONFIG"
ENV_PREFIX = "CALLOUT_"
FLAG = "flag"
# Far more than any real configuration; a larger "file" (say /dev/zero) is refused, not read forever.
MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT = "default"


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line naming the setting and its source."""


@dataclass(frozen=True)
class ConfigFile:
    """The TOML file a command reads: where it is, and whether it must exist."""

    path: Path
    required: bool  # chosen with --config or CALLOUT_CONFIG, rather than looked for in the data dir

    @property
    def in_data_dir(self) -> bool:
        """True for the data directory's callout.toml, which may not set the data directory."""
        return not self.required


@dataclass(frozen=True)
class LoadedSettings:
    """The effective settings with, per setting, where its value came from."""

    settings: Settings
    sources: dict[str, str]  # setting -> "flag", "env CALLOUT_X", "file PATH" or "default"
    file: ConfigFile
    file_found: bool


def env_variable(name: str) -> str:
    """The environment variable of a setting, e.g. ``port`` → ``CALLOUT_PORT``."""
    return f"{ENV_PREFIX}{name.upper()}"


def load_settings(given: dict[str, Any]) -> LoadedSettings:
    """Settings from the options given (None means not given; ``config`` names the file) and the rest."""
    flags = {key: value for key, value in given.items() if value is not None and key != "config"}
    env = _environment_values()
    file = locate_config_file(given.get("config"), flags, env)
    file_values = read_config_file(file)
    sources = _sources(flags, env, file_values, file.path)
    try:
        settings = Settings(**{**file_values, **env, **flags})
    except ValidationError as error:
        raise ConfigError(_describe(error, sources)) from None
    return LoadedSettings(settings, sources, file, file_found=file.path.is_file())


def locate_config_file(config: Path | None, flags: dict[str, Any], env: dict[str, Any]) -> ConfigFile:
    """--config, else CALLOUT_CONFIG, else callout.toml in the data dir the flags or environment name."""
    chosen = config or os.environ.get(CONFIG_VARIABLE, "").strip()
    if chosen:
        return ConfigFile(Path(chosen).absolute(), required=True)
    data_dir = flags.get("data_dir") or env.get("data_dir") or Settings.model_fields["data_dir"].default
    return ConfigFile((Path(data_dir) / CONFIG_FILE_NAME).absolute(), required=False)


def read_config_file(file: ConfigFile) -> dict[str, Any]:
    """The file's settings, checked for unknown keys; a missing optional file is no settings at all."""
    if not file.required and not file.path.exists():
        return {}
    values = _parse_toml(file.path)
    _check_keys(values, file)
    _warn_if_secrets_are_exposed(values, file.path)
    return _resolve_paths(values, file.path.parent)


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes; is it the right file?")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 (byte {error.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _warn_if_secrets_are_exposed(values: dict[str, Any], path: Path) -> None:
    """One line on stderr when a file holding a secret can be read by other users (docs/configuration.md)."""
    secrets = [key for key in ("master_key", "database_url") if _holds_secret(key, values.get(key))]
    mode = stat.S_IMODE(path.stat().st_mode)
    if secrets and mode & 0o077:
        sys.stderr.write(
            f"warning: config file {path} holds {' and '.join(secrets)} but other users may read it "
            f"(mode {mode:04o}); run: chmod 600 {path}\n"
        )


def _holds_secret(key: str, value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    # A database URL is a secret only with a password in it (user:password@ or ?password=).
    return key == "master_key" or bool(re.search(r"://[^/@]*:[^/@]*@|[?&]password=", value, re.IGNORECASE))


def _check_keys(values: dict[str, Any], file: ConfigFile) -> None:
    known = list(Settings.model_fields)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key.lower(), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown setting {key!r} in config file {file.path}{hint}")
    _check_tables(values, file, known)
    if file.in_data_dir and "data_dir" in values:
        raise ConfigError(
            f"data_dir in {file.path} cannot choose the data directory it was found in; "
            f"use --data-dir, {env_variable('data_dir')} or a --config file"
        )


def _check_tables(values: dict[str, Any], file: ConfigFile, known: list[str]) -> None:
    # In TOML every key after a [table] header belongs to that table: `port = 8080` written below
    # [egress_resolve] would otherwise be reported as a bad host entry.
    for table, entries in values.items():
        stray = [key for key in entries if key in known] if isinstance(entries, dict) else []
        if stray:
            raise ConfigError(
                f"setting {stray[0]!r} is inside the [{table}] table in config file {file.path}: "
                "put settings above the first [table] header"
            )


def _resolve_paths(values: dict[str, Any], base: Path) -> dict[str, Any]:
    # A relative path in a file means a path next to that file, wherever the command is started.
    resolved = dict(values)
    for key in path_settings():
        if isinstance(values.get(key), str) and not Path(values[key]).expanduser().is_absolute():
            resolved[key] = str(base / values[key])
    return resolved


def path_settings() -> list[str]:
    """The settings whose values are file system paths."""
    return [name for name, field in Settings.model_fields.items() if _is_path(field.annotation)]


def _is_path(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return Path in get_args(annotation)
    return annotation is Path


def _environment_values() -> dict[str, Any]:
    try:
        return EnvSettingsSource(Settings)()
    except SettingsError as error:
        found = re.search(r'field "(\w+)"', str(error))
        name = env_variable(found.group(1)) if found else "a CALLOUT_* variable"
        raise ConfigError(f"{name} is not valid JSON (lists and tables are JSON in the environment)") from None


def _sources(flags: dict[str, Any], env: dict[str, Any], file_values: dict[str, Any], path: Path) -> dict[str, str]:
    sources: dict[str, str] = {}
    for name in Settings.model_fields:
        if name in flags:
            sources[name] = FLAG
        elif name in env:
            sources[name] = f"env {env_variable(name)}"
        elif name in file_values:
            sources[name] = f"file {path}"
        else:
            sources[name] = DEFAULT
    return sources


def _describe(error: ValidationError, sources: dict[str, str]) -> str:
    # Values are left out of the message: the setting may be a secret (master_key, database_url).
    problems = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        where = ".".join(map(str, problem["loc"]))
        problems.append(f"{where} ({sources.get(name, DEFAULT)}): {problem['msg']}")
    return "invalid setting " + "; ".join(problems)
