"""Structured logging with structlog; secrets are redacted before anything is written."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_info_enabled = True
_SECRET_KEYS = ("token", "signing_key", "signingkey", "authorization", "secret", "password", "master_key")


def redact_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every key that names a secret, also inside nested mappings."""
    for key in list(event):
        if _names_secret(key):
            event[key] = "[redacted]"
        elif isinstance(event[key], MutableMapping):
            event[key] = redact_secrets(_logger, _method, dict(event[key]))
    return event


def _names_secret(key: object) -> bool:
    return isinstance(key, str) and any(marker in key.lower() for marker in _SECRET_KEYS)


def info_enabled() -> bool:
    """Whether info lines are written: per-call paths check it rather than build a call that is dropped."""
    return _info_enabled


def configure_logging(log_format: str = "console", level: str = "info", *, short_lived: bool = False) -> None:
    """Set up structlog for the process: request-scoped context, redaction, console or JSON, on stderr.

    ``short_lived`` (one CLI command) looks ``sys.stderr`` up on every line and caches no logger, so that
    a command run in-process (click's test runner) leaves nothing bound to its replaced streams.
    """
    global _info_enabled
    _info_enabled = logging.getLevelName(level.upper()) <= logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    _route_standard_logging(renderer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_current_stderr_logger if short_lived else structlog.PrintLoggerFactory(sys.stderr),
        # Cached loggers make a filtered-out call nearly free; configure before the first log call.
        cache_logger_on_first_use=not short_lived,
    )


def _current_stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def _route_standard_logging(renderer: Any) -> None:
    # uvicorn and asyncio log through the standard library; unhandled, their warnings were written as
    # plain text between the JSON lines. Only warnings and worse, as before: their info lines are noise.
    handler = _CurrentStderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact_secrets,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    _undivert(UVICORN_LOGGERS)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _undivert(names: tuple[str, ...]) -> None:
    # uvicorn's default logging config (applied by any uvicorn started without log_config=None in this
    # process) gives its loggers their own plain-text handlers and stops propagation to the root.
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time: a CLI command run in-process swaps the streams."""

    @property
    def stream(self) -> Any:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # set by StreamHandler.__init__; the current sys.stderr is always used instead
