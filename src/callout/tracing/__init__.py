"""Tracing with OpenTelemetry, off unless an OTLP endpoint is configured (docs/tracing.md).

Off, this module imports nothing of OpenTelemetry and the hot paths only test ``TRACING.otel is
None``; a caller's ``traceparent`` is still forwarded to targets unchanged (and stored with the
deliveries it causes), so a target's traces join the caller's at the cost of a header. On,
``callout.tracing.otel`` (imported only then) makes the spans, and the context sent on is that of
callout's own span.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from callout.domain.trace_context import TraceContext, trace_context_from

if TYPE_CHECKING:
    from callout.tracing.otel import OtelTracing

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

# The trace context the current call came with, while tracing is off (on, OpenTelemetry's context holds it).
_incoming: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("callout_trace", default=None)


class Tracing:
    """The process's tracing: ``otel`` is the span maker while tracing is on, else None."""

    __slots__ = ("otel",)

    def __init__(self) -> None:
        self.otel: OtelTracing | None = None


TRACING = Tracing()


def enabled_by(environ: Mapping[str, str]) -> bool:
    """Whether these variables switch tracing on: an OTLP endpoint, unless the SDK is disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def start(environ: Mapping[str, str] | None = None) -> bool:
    """Switch tracing on if the environment asks for it; returns whether it is on."""
    variables = os.environ if environ is None else environ
    if TRACING.otel is None and enabled_by(variables):
        from callout.tracing.otel import OtelTracing  # only when on: off costs no import

        TRACING.otel = OtelTracing.from_environment(variables)
    return TRACING.otel is not None


def shutdown() -> None:
    """Export the spans still buffered and switch tracing off (a no-op when off)."""
    otel, TRACING.otel = TRACING.otel, None
    if otel is not None:
        otel.shutdown()


def accept(get_header: Callable[[str], str | None]) -> contextvars.Token[TraceContext | None] | None:
    """Take the trace context of an incoming call while tracing is off; give the token to ``release``."""
    incoming = trace_context_from(get_header)
    return None if incoming is None else _incoming.set(incoming)


def release(token: contextvars.Token[TraceContext | None] | None) -> None:
    """Forget the context ``accept`` took."""
    if token is not None:
        _incoming.reset(token)


def current() -> TraceContext | None:
    """The context work caused now continues: callout's current span when on, else the caller's."""
    otel = TRACING.otel
    return _incoming.get() if otel is None else otel.current()


def add_headers(headers: dict[str, str], stored: TraceContext | None = None) -> None:
    """Add ``traceparent`` (and ``tracestate``) to an outgoing request's headers.

    On, they name the current span (the target call's). Off, they are ``stored`` (a delivery's) or
    the caller's, unchanged.
    """
    otel = TRACING.otel
    if otel is not None:
        otel.inject(headers)
        return
    trace = stored or _incoming.get()
    if trace is not None:
        headers.update(trace.headers())
