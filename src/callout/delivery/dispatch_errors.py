"""The errors of DispatchClient, and when a failed Dispatch call may be sent again (docs/concurrency.md)."""

from __future__ import annotations

import enum

# callout's 503s after which the write was certainly not stored (rolled back or never begun).
NOTHING_STORED = frozenset({"Errors.Database.Busy", "Errors.Database.Unavailable"})


class Repeat(enum.Enum):
    """When a call that failed with 503 may be sent again."""

    SAFE = "safe"  # idempotent: always
    IF_NOTHING_STORED = "if nothing stored"  # callout says so, or the connection was never made
    IF_NOT_SENT = "if not sent"  # only when the connection was never made


class DispatchError(Exception):
    """callout refused or failed a dispatch call (or could not be reached)."""

    def __init__(
        self, status: int, code: str, message: str, message_id: str = "", detail: str = "", *, sent: bool = True
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.message_id = message_id
        self.detail = detail
        # False when no connection could be made: callout cannot have seen the request.
        self.sent = sent

    def may_repeat(self, repeat: Repeat) -> bool:
        """Whether the failed call may be sent again under ``repeat``."""
        if self.status != 503:
            return False
        if not self.sent or repeat is Repeat.SAFE:
            return True
        return repeat is Repeat.IF_NOTHING_STORED and self.message_id in NOTHING_STORED

    @property
    def is_execution_error(self) -> bool:
        """Whether a target caused it (forwarded error, failing or slow target), not callout or the client."""
        return self.message_id.startswith("Errors.Execution.")
