"""The spans, made with the OpenTelemetry SDK and exported over OTLP/HTTP; imported only when tracing is on.

One tracer provider per process, kept private (not OpenTelemetry's global one), with one
``BatchSpanProcessor``: spans are queued and exported from the SDK's own thread, never on the event
loop. Attributes name things (ids, hosts, statuses, message ids), never payloads, URLs' paths or
queries, headers or secrets (docs/tracing.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from callout import __version__
from callout.domain.trace_context import TraceContext, trace_context_from

DEFAULT_SERVICE_NAME = "callout"
_PROPAGATOR = TraceContextTextMapPropagator()


class ActiveSpan:
    """A span made current until ``end``; ``end`` must run in the task that started it."""

    __slots__ = ("_token", "span")

    def __init__(self, span: Span, parent: otel_context.Context | None = None) -> None:
        self.span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, parent))

    def end(self, error_type: str | None = None) -> None:
        """Restore the context of before and end the span, failed when ``error_type`` is given."""
        otel_context.detach(self._token)
        if error_type is not None:
            self.span.set_attribute("error.type", error_type)
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


class OtelTracing:
    """Makes callout's spans and carries their context in and out as W3C Trace Context headers."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("callout", __version__)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> OtelTracing:
        """A provider exporting to the OTLP/HTTP endpoint the standard variables name."""
        resource = Resource.create(
            {SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME, SERVICE_VERSION: __version__}
        )
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(environ))))
        return cls(provider)

    def shutdown(self) -> None:
        """Export what is buffered, then stop the exporter thread."""
        self._provider.shutdown()

    def current(self) -> TraceContext | None:
        """The context of the current span, or None outside any span."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return trace_context_from(carrier.get)

    def inject(self, headers: dict[str, str]) -> None:
        """Add the current span's ``traceparent`` (and ``tracestate``) to outgoing headers."""
        _PROPAGATOR.inject(headers)

    def server_call(self, rpc: str, transport: str, get_header: Callable[[str], str | None]) -> ActiveSpan:
        """The server span of one API call, a child of the caller's context if it sent one."""
        parent = _PROPAGATOR.extract({name: value for name in _TRACE_HEADERS if (value := get_header(name))})
        service, _, method = rpc.lstrip("/").partition("/")
        attributes = {"rpc.system": "connect_rpc", "rpc.service": service, "rpc.method": method}
        name = rpc.lstrip("/")
        span = self._tracer.start_span(name, parent, SpanKind.SERVER, {**attributes, "callout.transport": transport})
        return ActiveSpan(span, parent)

    def chain(self, execution_id: str, targets: int) -> ActiveSpan:
        """The span of one execution chain (request, response or function), current until ended."""
        kind = execution_id.partition("/")[0] or "chain"
        attributes: dict[str, str | int] = {
            "callout.execution.kind": kind,
            "callout.execution.id": execution_id,
            "callout.targets": targets,
        }
        return ActiveSpan(self._tracer.start_span(f"execution {kind}", attributes=attributes))

    def target_call(self, target_id: str, target_type: str, endpoint: str) -> ActiveSpan:
        """The client span of one call to a target: its id, type and endpoint host, never the path."""
        url = urlsplit(endpoint)
        attributes: dict[str, str | int] = {
            "callout.target.id": target_id,
            "callout.target.type": target_type,
            "http.request.method": "POST",
            "server.address": url.hostname or "",
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        return ActiveSpan(self._tracer.start_span("target call", kind=SpanKind.CLIENT, attributes=attributes))

    def record_status(self, status: int) -> None:
        """Note a target's HTTP status on the current (target call) span."""
        trace.get_current_span().set_attribute("http.response.status_code", status)

    def delivery_attempt(self, attributes: Mapping[str, str | int], stored: TraceContext | None) -> ActiveSpan:
        """The span of one delivery attempt, a child of the context stored with the delivery (else a root)."""
        parent = _PROPAGATOR.extract(stored.headers()) if stored is not None else otel_context.Context()
        return ActiveSpan(self._tracer.start_span("delivery attempt", parent, SpanKind.CONSUMER, attributes), parent)


_TRACE_HEADERS = ("traceparent", "tracestate")


def traces_endpoint(environ: Mapping[str, str]) -> str:
    """The OTLP/HTTP traces URL: the traces variable as it is, or ``/v1/traces`` under the general one."""
    specific = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if specific:
        return specific
    return environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/") + "/v1/traces"
