"""How the Deliveries pages read filters and show payloads (console/delivery_views.py, docs/console.md)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from starlette.datastructures import QueryParams

from callout.console.delivery_views import Filters, read_cursor, read_filters, show_payload
from callout.console.web import PageError


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _segment(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


class TestShowPayload:
    def test_json_is_indented(self) -> None:
        """A JSON payload is shown indented by two spaces."""
        shown = show_payload(_b64(b'{"a":{"b":1}}'))
        assert (shown.kind, shown.text) == ("JSON", '{\n  "a": {\n    "b": 1\n  }\n}')

    def test_jwt_shows_its_decoded_header(self) -> None:
        """A compact JWS shows the token and its decoded header, nothing verified."""
        token = f"{_segment({'alg': 'RS256', 'kid': 'k1'})}.{_segment({'sub': 'x'})}.c2ln"
        shown = show_payload(_b64(token.encode()))
        assert (shown.kind, shown.text, json.loads(shown.token_header or "")) == (
            "JWT",
            token,
            {"alg": "RS256", "kid": "k1"},
        )

    def test_jwe_is_named_so(self) -> None:
        """A five-part compact token is shown as a JWE with its header."""
        token = f"{_segment({'alg': 'RSA-OAEP-256', 'enc': 'A256GCM'})}.a.b.c.d"
        assert show_payload(_b64(token.encode())).kind == "JWE"

    def test_dotted_text_that_is_no_token_stays_text(self) -> None:
        """Text with dots whose first part is no JSON header is shown as plain text."""
        shown = show_payload(_b64(b"a.b.c"))
        assert (shown.kind, shown.token_header) == ("text", None)

    def test_bytes_that_are_not_utf8_are_shown_replaced(self) -> None:
        """Undecodable bytes become replacement characters rather than an error."""
        assert show_payload(_b64(b"\xff\xfe<x")).text == "\ufffd\ufffd<x"


class TestFilters:
    def test_query_string_round_trips(self) -> None:
        """The filters read from a query string write the same query string back (page 1 left out)."""
        query = "state=failed&target=t1&since=2026-01-31T13%3A45"
        assert read_filters(QueryParams(query)).query() == query

    def test_filters_become_the_rpc_request(self) -> None:
        """State, target, execution and times become ListDeliveries fields, times in UTC."""
        filters = Filters(state="in_flight", target="t", execution="event/x", since="2026-01-31T13:45", page=3)
        assert filters.rpc_body() == {
            "pagination": {"offset": 100, "limit": 50},
            "states": ["DELIVERY_STATE_IN_FLIGHT"],
            "targetId": "t",
            "executionId": "event/x",
            "createdAfter": "2026-01-31T13:45:00Z",
        }

    @pytest.mark.parametrize("query", ["page=0", "page=x", "state=lost", "until=tomorrow"])
    def test_malformed_values_are_a_400(self, query: str) -> None:
        """A page below 1, an unknown state or a malformed time is a 400 page."""
        with pytest.raises(PageError) as refused:
            read_filters(QueryParams(query))
        assert refused.value.status == 400


class TestCursor:
    def test_reads_time_and_id(self) -> None:
        """A cursor is the creation time and the id, separated by a space."""
        assert read_cursor("2026-01-31T13:45:00.5Z 42") == (datetime(2026, 1, 31, 13, 45, 0, 500000, tzinfo=UTC), "42")

    def test_naive_time_is_refused(self) -> None:
        """A cursor time without a zone is a 400."""
        with pytest.raises(PageError):
            read_cursor("2026-01-31T13:45:00 42")
