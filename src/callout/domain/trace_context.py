"""W3C Trace Context values: a ``traceparent`` (and ``tracestate``) as taken from a caller and sent on.

Only well-formed values are kept (docs/tracing.md): a malformed ``traceparent`` is dropped, never
forwarded or stored, and a ``tracestate`` is kept only with a valid ``traceparent`` and within the
W3C length limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
MAX_TRACESTATE_CHARS = 512
# version 00; a trace id and a parent id that are not all zeros; flags. Later versions may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[ -~]{0,200})?")
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A caller's trace context, ready to be sent as HTTP headers."""

    traceparent: str
    tracestate: str | None = None

    @property
    def trace_id(self) -> str:
        """The 32 hex digits naming the whole trace."""
        return self.traceparent[3:35]

    def headers(self) -> dict[str, str]:
        """The headers that carry this context."""
        if self.tracestate:
            return {TRACEPARENT: self.traceparent, TRACESTATE: self.tracestate}
        return {TRACEPARENT: self.traceparent}


def valid_traceparent(value: str) -> bool:
    """Whether ``value`` is a ``traceparent`` the W3C rules accept (version ff and zero ids are not)."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return False
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_PARENT_ID:
        return False
    return version != "00" or rest is None


def trace_context_from(get_header: Callable[[str], str | None]) -> TraceContext | None:
    """The trace context of a request whose headers ``get_header`` looks up, or None without a valid one."""
    traceparent = get_header(TRACEPARENT)
    if traceparent is None or not valid_traceparent(traceparent):
        return None
    tracestate = get_header(TRACESTATE)
    if tracestate is not None and (len(tracestate) > MAX_TRACESTATE_CHARS or not tracestate.isprintable()):
        tracestate = None
    return TraceContext(traceparent.strip(), tracestate.strip() if tracestate else None)


def stored_trace_context(traceparent: str | None, tracestate: str | None) -> TraceContext | None:
    """The context stored with a delivery (its two columns), or None."""
    return None if traceparent is None else TraceContext(traceparent, tracestate)
