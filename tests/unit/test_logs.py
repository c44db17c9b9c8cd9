"""Log redaction: values under keys that name a secret never reach the output."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.config
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
import uvicorn.config
from hypothesis import given
from hypothesis import strategies as st

from callout.logs import configure_logging, redact_secrets

REDACTED = "[redacted]"
SECRET_MARKERS = ["token", "signing_key", "signingKey", "authorization", "secret", "password"]
ALL_MARKERS = ("token", "signing_key", "signingkey", "authorization", "secret", "password", "master_key")


def _redact(event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return redact_secrets(None, "info", event)


def _mixed_case(draw: st.DrawFn, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(char.upper() if flag else char.lower() for char, flag in zip(text, flags, strict=True))


@st.composite
def secret_keys(draw: st.DrawFn) -> str:
    """A key that contains a secret marker in any letter case, with anything around it."""
    marker = _mixed_case(draw, draw(st.sampled_from(SECRET_MARKERS)))
    return draw(st.text(max_size=8)) + marker + draw(st.text(max_size=8))


PLAIN_KEYS = st.text(max_size=16).filter(lambda key: not any(marker in key.lower() for marker in ALL_MARKERS))
VALUES = st.none() | st.booleans() | st.integers() | st.text() | st.lists(st.text(), max_size=3)


class TestRedactSecrets:
    @pytest.mark.parametrize(
        "key",
        [
            "token",
            "access_token",
            "Authorization",
            "AUTHORIZATION",
            "signing_key",
            "signingKey",
            "SigningKey",
            "client_secret",
            "password",
            "db_Password",
            "master_key",
        ],
    )
    def test_secret_key_is_redacted(self, key: str) -> None:
        """The value under a key naming a secret is replaced."""
        assert _redact({key: "s3cr3t"})[key] == REDACTED

    @pytest.mark.parametrize("key", ["event", "rpc", "code", "ms", "user_id", "endpoint", "level"])
    def test_ordinary_key_is_kept(self, key: str) -> None:
        """The value under an ordinary key is left alone."""
        assert _redact({key: "value"})[key] == "value"

    def test_keys_are_kept(self) -> None:
        """Redaction replaces values but keeps every key."""
        assert set(_redact({"token": "t", "rpc": "r"})) == {"token", "rpc"}

    def test_event_is_returned(self) -> None:
        """The processor returns the event it was given, for the next processor."""
        event: dict[str, Any] = {"token": "t"}
        assert _redact(event) is event

    @given(
        st.dictionaries(PLAIN_KEYS, VALUES, max_size=5),
        secret_keys(),
        st.text(min_size=1).filter(lambda text: text != REDACTED) | st.integers(),
    )
    def test_secret_value_never_survives(self, others: dict[str, Any], key: str, value: object) -> None:
        """For any event with a secret-named key, that key's value is gone from the output."""
        event = {name: other for name, other in others.items() if other != value}
        event[key] = value
        assert value not in _redact(event).values()

    @given(st.dictionaries(PLAIN_KEYS, VALUES, max_size=5))
    def test_plain_events_are_unchanged(self, event: dict[str, Any]) -> None:
        """An event without secret-named keys passes through unchanged."""
        assert _redact(dict(event)) == event


class TestConfiguredLogging:
    def test_json_output_has_no_token(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A configured JSON logger writes the event with the token's value replaced."""
        configure_logging("json", "info")
        try:
            structlog.get_logger("test").info("login", token="co_supersecret", user="alice")
        finally:
            structlog.reset_defaults()
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["token"], line["user"]) == (REDACTED, "alice")

    def test_standard_library_warnings_are_json_lines(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A warning logged through the standard library (as uvicorn logs) is one JSON line too."""
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        configure_logging("json", "info")
        try:
            logging.getLogger("uvicorn.error").warning("Cancel %d running task(s)", 1)
        finally:
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level  # pytest's own capture handlers
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        expected = ("Cancel 1 running task(s)", "warning", "uvicorn.error")
        assert (line["event"], line["level"], line["logger"]) == expected

    def test_uvicorn_default_logging_config_does_not_divert_warnings(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A uvicorn started earlier in the process with its default log config no longer diverts its warnings."""
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
        configure_logging("json", "info")
        try:
            logging.getLogger("uvicorn.error").warning("diverted?")
        finally:
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level
        assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["event"] == "diverted?"

    def test_standard_library_lines_follow_a_replaced_stderr(self) -> None:
        """A warning goes to the sys.stderr of the moment, as a CLI command run in-process replaces it."""
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        configure_logging("json", "info")
        replaced = io.StringIO()
        try:
            with contextlib.redirect_stderr(replaced):
                logging.getLogger("asyncio").warning("late")
        finally:
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level
        assert json.loads(replaced.getvalue())["event"] == "late"
