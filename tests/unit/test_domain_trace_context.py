"""W3C trace context values: which traceparents are kept, and what is sent on."""

from __future__ import annotations

import pytest

from callout.domain.trace_context import TraceContext, trace_context_from, valid_traceparent

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TestValidTraceparent:
    def test_version_00_value_is_valid(self) -> None:
        """The W3C example traceparent is accepted."""
        assert valid_traceparent(VALID)

    @pytest.mark.parametrize(
        "value",
        [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has four fields
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
            "",
        ],
    )
    def test_malformed_value_is_refused(self, value: str) -> None:
        """Zero ids, version ff, upper case, extra fields after version 00 and short ids are refused."""
        assert not valid_traceparent(value)

    def test_later_version_may_carry_more_fields(self) -> None:
        """A version after 00 with a further field is accepted, as the W3C rules ask."""
        assert valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")


class TestTraceContextFrom:
    def test_tracestate_is_kept_with_a_valid_traceparent(self) -> None:
        """Both headers are taken when the traceparent is valid."""
        headers = {"traceparent": VALID, "tracestate": "a=1"}
        assert trace_context_from(headers.get) == TraceContext(VALID, "a=1")

    def test_oversized_tracestate_is_dropped(self) -> None:
        """A tracestate over the W3C limit of 512 characters is dropped, the traceparent kept."""
        headers = {"traceparent": VALID, "tracestate": "a=" + "x" * 600}
        assert trace_context_from(headers.get) == TraceContext(VALID)

    def test_no_traceparent_gives_none(self) -> None:
        """A tracestate alone is no trace context."""
        assert trace_context_from({"tracestate": "a=1"}.get) is None

    def test_trace_id_is_the_second_field(self) -> None:
        """The trace id is the 32 hex digits after the version."""
        assert TraceContext(VALID).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
