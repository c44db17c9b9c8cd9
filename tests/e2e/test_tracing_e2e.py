"""Tracing on, end to end: a real ``callout serve`` exporting to a real OTLP/HTTP receiver (docs/tracing.md).

One server per backend exports with a short batch delay; each test starts its own trace with a
``traceparent`` of fresh ids and looks for its spans by trace id.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from callout.testing import RecordingReceiver
from tests.e2e.conftest import STOP_TIMEOUT_SECONDS, Server, StartServer, callout_command, child_environment
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e
ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
EVENT_TYPE = "order.traced"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """The OTLP/HTTP receiver on 127.0.0.1, shared by the module's servers."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def traced_server(request: pytest.FixtureRequest, start_server: StartServer, otlp: OtlpReceiver) -> Server:
    """A development-mode server with tracing on, exporting to ``otlp`` every 50 ms."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "e2e"}
    return start_server(str(request.param), extra_args=("--dev",), env=env)


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording target on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


def _traceparent() -> tuple[str, str, str]:
    """A sampled traceparent with fresh ids: (header, trace id, parent span id)."""
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-01", trace_id, parent_id


def _rpc(server: Server, path: str, body: dict[str, Any], traceparent: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    response = httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _target(server: Server, receiver: RecordingReceiver, kind: str = "restCall") -> str:
    flags = {"interruptOnError": True} if kind == "restCall" else {}
    body = {"name": f"t-{secrets.token_hex(5)}", kind: flags, "timeout": "5s", "endpoint": receiver.url}
    return str(_rpc(server, f"{ACTION}/CreateTarget", body)["id"])


def _bind(server: Server, condition: dict[str, Any], targets: list[str]) -> None:
    _rpc(server, f"{ACTION}/SetExecution", {"condition": condition, "targets": targets})


def _named(spans: list[ReceivedSpan], trace_id: str, name: str) -> ReceivedSpan | None:
    return next((span for span in spans if span.trace_id == trace_id and span.name == name), None)


def _wait_for_names(otlp: OtlpReceiver, trace_id: str, *names: str) -> list[ReceivedSpan]:
    spans = otlp.wait_for(lambda got: all(_named(got, trace_id, name) for name in names))
    return [span for name in names if (span := _named(spans, trace_id, name)) is not None]


def _call_get_target_traced(server: Server, receiver: RecordingReceiver) -> tuple[str, str, str]:
    """GetTarget with a request target and a fresh traceparent; returns (target id, trace id, parent id)."""
    target_id = _target(server, receiver)
    condition = {"request": {"method": f"{ACTION}/GetTarget"}}
    _bind(server, condition, [target_id])
    traceparent, trace_id, parent_id = _traceparent()
    try:
        _rpc(server, f"{ACTION}/GetTarget", {"id": target_id}, traceparent)
    finally:
        _bind(server, condition, [])
    return target_id, trace_id, parent_id


class TestSynchronousCall:
    def test_api_chain_and_target_spans_form_one_tree_under_the_caller(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """The API span is a child of the caller's span, the chain of the API span, the target call of the chain."""
        target_id, trace_id, parent_id = _call_get_target_traced(traced_server, receiver)
        api, chain, call = _wait_for_names(
            otlp, trace_id, "zitadel.action.v2.ActionService/GetTarget", "execution request", "target call"
        )
        assert (api.parent_span_id, chain.parent_span_id, call.parent_span_id) == (
            parent_id,
            api.span_id,
            chain.span_id,
        )
        assert (api.kind, call.kind, call.attributes["callout.target.id"], api.service_name) == (
            "server",
            "client",
            target_id,
            "e2e",
        )

    def test_target_receives_the_target_call_span_as_parent(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """The traceparent a target gets carries the caller's trace id and the target call span's id."""
        _, trace_id, _ = _call_get_target_traced(traced_server, receiver)
        (call,) = _wait_for_names(otlp, trace_id, "target call")
        assert receiver.last.header("traceparent") == f"00-{trace_id}-{call.span_id}-01"

    def test_target_call_span_names_host_and_status_but_no_path(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """The target call span has the endpoint's host, port and HTTP status, and no URL path anywhere."""
        _, trace_id, _ = _call_get_target_traced(traced_server, receiver)
        (call,) = _wait_for_names(otlp, trace_id, "target call")
        attributes = call.attributes
        assert (attributes["server.address"], attributes["server.port"], attributes["http.response.status_code"]) == (
            "127.0.0.1",
            receiver.port,
            200,
        )
        assert not any("/" in str(value) for value in attributes.values())

    def test_untraced_caller_gets_a_new_trace_the_target_joins(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """Without a caller's traceparent the API span starts a trace, and the target is sent that trace."""
        target_id = _target(traced_server, receiver)
        condition = {"request": {"method": f"{ACTION}/GetTarget"}}
        _bind(traced_server, condition, [target_id])
        try:
            _rpc(traced_server, f"{ACTION}/GetTarget", {"id": target_id})
        finally:
            _bind(traced_server, condition, [])
        trace_id = str(receiver.last.header("traceparent", ""))[3:35]
        (api,) = _wait_for_names(otlp, trace_id, "zitadel.action.v2.ActionService/GetTarget")
        assert api.parent_span_id == ""

    def test_span_contexts_are_restored_cleanly(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """Every span is detached in the context it was attached in: the server logs no context error."""
        _, trace_id, _ = _call_get_target_traced(traced_server, receiver)
        _wait_for_names(otlp, trace_id, "zitadel.action.v2.ActionService/GetTarget")
        assert "Failed to detach context" not in traced_server.log_text()


class TestPushedEvents:
    def test_delivery_attempt_continues_the_push_callers_trace(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """The worker's delivery span is a child of the PushEvents span, in the pusher's trace."""
        traceparent, trace_id, parent_id = _traceparent()
        target_id = _push_traced(traced_server, receiver, traceparent)
        push, attempt = _wait_for_names(otlp, trace_id, "callout.v1.DispatchService/PushEvents", "delivery attempt")
        assert (push.parent_span_id, attempt.parent_span_id, attempt.attributes["callout.target.id"]) == (
            parent_id,
            push.span_id,
            target_id,
        )
        assert (attempt.attributes["callout.delivery.attempt"], attempt.attributes["callout.delivery.outcome"]) == (
            1,
            "succeeded",
        )

    def test_delivered_target_receives_the_pushers_trace_id(
        self, traced_server: Server, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """The delivered event's traceparent has the pusher's trace id and names the attempt's target call."""
        traceparent, trace_id, _ = _traceparent()
        _push_traced(traced_server, receiver, traceparent)
        sent = receiver.wait_for(1)[0].header("traceparent")
        attempt, call = _wait_for_names(otlp, trace_id, "delivery attempt", "target call")
        assert (sent, call.parent_span_id) == (f"00-{trace_id}-{call.span_id}-01", attempt.span_id)


def _push_traced(server: Server, receiver: RecordingReceiver, traceparent: str) -> str:
    """Bind a webhook to the event type and push one event with a traceparent; returns the target id."""
    _rpc(server, f"{DISPATCH}/RegisterCatalog", {"events": [EVENT_TYPE]})
    target_id = _target(server, receiver, "restWebhook")
    _bind(server, {"event": {"event": EVENT_TYPE}}, [target_id])
    event = {"aggregateType": "order", "aggregateId": secrets.token_hex(4), "eventType": EVENT_TYPE, "payload": {}}
    try:
        _rpc(server, f"{DISPATCH}/PushEvents", {"events": [event]}, traceparent)
        receiver.wait_for(1, timeout=10)
    finally:
        _bind(server, {"event": {"event": EVENT_TYPE}}, [])
    return target_id


class TestShutdown:
    def test_spans_still_buffered_are_exported_on_sigterm(self, start_server: StartServer, otlp: OtlpReceiver) -> None:
        """With a batch delay longer than the test, a call's span reaches the receiver when the server stops."""
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "600000"}
        server = start_server("sqlite", env=env)
        traceparent, trace_id, _ = _traceparent()
        _rpc(server, f"{ACTION}/ListTargets", {}, traceparent)
        server.stop()
        assert _wait_for_names(otlp, trace_id, "zitadel.action.v2.ActionService/ListTargets")


class TestWorkerProcess:
    def test_traced_worker_continues_the_context_an_untraced_server_stored(
        self, start_server: StartServer, otlp: OtlpReceiver, receiver: RecordingReceiver
    ) -> None:
        """A traced ``callout worker`` delivers a push stored by an untraced server inside the pusher's trace."""
        server = start_server("postgresql", extra_args=("--dev", "--workers", "0"))
        traceparent, trace_id, parent_id = _traceparent()
        env = {**child_environment(), "CALLOUT_DEV": "true", "OTEL_BSP_SCHEDULE_DELAY": "50"}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.endpoint
        command = [*callout_command(), "worker", *server.storage_args(), "--metrics-address", ""]
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _push_traced(server, receiver, traceparent)
            (attempt,) = _wait_for_names(otlp, trace_id, "delivery attempt")
        finally:
            worker.terminate()
            worker.wait(STOP_TIMEOUT_SECONDS)
        assert attempt.parent_span_id == parent_id
