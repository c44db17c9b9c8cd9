"""Payload bodies for request, response, function and event targets, byte for byte as ZITADEL sends them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from callout.engine.gojson import RawJSON
from callout.engine.payloads import (
    FORWARDED_HEADERS,
    event_payload,
    filter_forwarded_headers,
    function_payload,
    request_payload,
    response_payload,
)

GET_TARGET = "/zitadel.action.v2.ActionService/GetTarget"
INSTANCE = "295880245416673796"
ORG = "295880245416739332"
OWNER = "295880245416804868"
HOST = "integration-test-295880245416673796.localhost:8080"
HEADERS = {"Content-Type": ["application/grpc"], "Host": [HOST]}


def _target(target_id: str) -> dict[str, object]:
    return {
        "target": {
            "id": target_id,
            "creationDate": "2025-01-02T03:04:05.123456Z",
            "changeDate": "2025-01-02T03:04:05.123456Z",
            "name": "target-295880",
            "restCall": {},
            "timeout": "5s",
            "endpoint": "https://nonexistent",
            "signingKey": "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
        }
    }


class TestExecutionTargetCase:
    """ZITADEL's TestServer_ExecutionTarget "GetTarget, request and response, ok"."""

    def test_request_body_is_byte_exact(self) -> None:
        """The request target receives exactly ZITADEL's body (no projectID, canonical headers)."""
        body = request_payload(GET_TARGET, INSTANCE, ORG, "", OWNER, {"id": "something"}, HEADERS)
        assert body == (
            b'{"fullMethod":"/zitadel.action.v2.ActionService/GetTarget","instanceID":"295880245416673796",'
            b'"orgID":"295880245416739332","userID":"295880245416804868","request":{"id":"something"},'
            b'"headers":{"Content-Type":["application/grpc"],"Host":["' + HOST.encode() + b'"]}}'
        )

    def test_response_body_is_byte_exact(self) -> None:
        """The response target receives the replaced request, then the real response, then the headers."""
        body = response_payload(GET_TARGET, INSTANCE, ORG, "", OWNER, {"id": "2958"}, _target("2958"), HEADERS)
        assert body == (
            b'{"fullMethod":"/zitadel.action.v2.ActionService/GetTarget","instanceID":"295880245416673796",'
            b'"orgID":"295880245416739332","userID":"295880245416804868","request":{"id":"2958"},'
            b'"response":{"target":{"id":"2958","creationDate":"2025-01-02T03:04:05.123456Z",'
            b'"changeDate":"2025-01-02T03:04:05.123456Z","name":"target-295880","restCall":{},"timeout":"5s",'
            b'"endpoint":"https://nonexistent","signingKey":"Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"}},'
            b'"headers":{"Content-Type":["application/grpc"],"Host":["' + HOST.encode() + b'"]}}'
        )

    def test_interrupt_case_without_headers(self) -> None:
        """The "request, interrupt" case expects no headers key when none were forwarded."""
        body = request_payload(GET_TARGET, INSTANCE, ORG, "", OWNER, {}, None)
        assert body.endswith(b'"userID":"295880245416804868","request":{}}')


class TestRequestPayload:
    def test_empty_strings_are_omitted(self) -> None:
        """Empty caller fields are left out (omitempty), the request never is."""
        assert request_payload("", "", "", "", "", {}, {}) == b'{"request":{}}'

    def test_field_order_is_the_struct_order(self) -> None:
        """Keys come in ZITADEL's declaration order."""
        body = json.loads(request_payload("/a.B/C", "i", "o", "p", "u", {"x": 1}, {"Host": ["h"]}))
        assert list(body) == ["fullMethod", "instanceID", "orgID", "projectID", "userID", "request", "headers"]

    def test_header_keys_are_sorted_like_a_go_map(self) -> None:
        """The headers map is written with sorted keys whatever the input order."""
        body = request_payload("/a.B/C", "", "", "", "", {}, {"Origin": ["o"], "Host": ["h"], "Content-Type": ["c"]})
        assert body.endswith(b'"headers":{"Content-Type":["c"],"Host":["h"],"Origin":["o"]}}')

    def test_request_keeps_protojson_key_order(self) -> None:
        """The request message keeps the order the protojson encoder produced."""
        body = request_payload("/a.B/C", "", "", "", "", {"zeta": 1, "alpha": 2}, None)
        assert body == b'{"fullMethod":"/a.B/C","request":{"zeta":1,"alpha":2}}'

    def test_raw_protojson_is_compacted_and_escaped(self) -> None:
        """Raw protojson bytes are compacted and HTML-escaped as Go does for marshaler output."""
        body = request_payload("/a.B/C", "", "", "", "", RawJSON(b'{"name": "<b>"}'), None)
        assert body == b'{"fullMethod":"/a.B/C","request":{"name":"\\u003cb\\u003e"}}'

    def test_strings_are_html_escaped(self) -> None:
        """HTML characters in the request are escaped."""
        assert b"\\u0026" in request_payload("/a.B/C", "", "", "", "", {"q": "a&b"}, None)


class TestResponsePayload:
    def test_response_sits_between_request_and_headers(self) -> None:
        """The response comes right after the request."""
        body = json.loads(response_payload("/a.B/C", "i", "", "", "", {"a": 1}, {"b": 2}, {"Host": ["h"]}))
        assert list(body) == ["fullMethod", "instanceID", "request", "response", "headers"]

    def test_empty_response_is_kept(self) -> None:
        """An empty response message is still present."""
        assert response_payload("", "", "", "", "", {}, {}, None) == b'{"request":{},"response":{}}'


class TestFunctionPayload:
    def test_function_key_comes_first(self) -> None:
        """The ``function`` key carries the execution id and precedes the context."""
        body = function_payload("preuserinfo", {"userinfo": {"sub": "u1"}, "application": {"client_id": "c"}})
        assert body == b'{"function":"function/preuserinfo","userinfo":{"sub":"u1"},"application":{"client_id":"c"}}'

    def test_execution_id_is_accepted_as_name(self) -> None:
        """A name given as ``function/<name>`` is not prefixed twice."""
        assert function_payload("function/custom", {}) == b'{"function":"function/custom"}'

    def test_none_values_are_omitted(self) -> None:
        """Context keys whose value is None are left out (Go's nil pointers)."""
        assert function_payload("custom", {"a": None, "b": 1}) == b'{"function":"function/custom","b":1}'

    def test_empty_lists_are_omitted_for_zitadel_functions(self) -> None:
        """ZITADEL's own functions drop empty lists (omitempty slices)."""
        body = function_payload("preuserinfo", {"user_metadata": [], "user_grants": [], "org": {}})
        assert body == b'{"function":"function/preuserinfo","org":{}}'

    def test_empty_lists_are_kept_for_custom_functions(self) -> None:
        """A custom function's context is passed on as given."""
        assert function_payload("custom", {"items": []}) == b'{"function":"function/custom","items":[]}'

    def test_merged_response_comes_last(self) -> None:
        """The answers merged so far follow the context under ``response``."""
        body = function_payload("preaccesstoken", {"user": {"id": "1"}}, response={"append_log_claims": ["x"]})
        assert (
            body == b'{"function":"function/preaccesstoken","user":{"id":"1"},"response":{"append_log_claims":["x"]}}'
        )

    def test_time_and_bytes_in_context_use_go_forms(self) -> None:
        """Datetimes and bytes in the context encode as Go's time.Time and []byte."""
        context = {"user": {"change_date": datetime(2024, 5, 6, tzinfo=UTC), "hash": b"\x01"}}
        body = function_payload("presamlresponse", context)
        assert (
            body
            == b'{"function":"function/presamlresponse","user":{"change_date":"2024-05-06T00:00:00Z","hash":"AQ=="}}'
        )


class TestEventPayload:
    CREATED = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)

    def test_full_event_body(self) -> None:
        """Every field is present, in ZITADEL's order, with the event payload as an object."""
        body = event_payload("a1", "user", "o1", "i1", "v2", 7, "user.human.added", self.CREATED, "u1", {"k": "v"})
        assert body == (
            b'{"aggregateID":"a1","aggregateType":"user","resourceOwner":"o1","instanceID":"i1","version":"v2",'
            b'"sequence":7,"event_type":"user.human.added","created_at":"2024-01-02T03:04:05.123456Z",'
            b'"userID":"u1","event_payload":{"k":"v"}}'
        )

    def test_zero_and_empty_fields_are_omitted(self) -> None:
        """Empty strings, a zero sequence and a missing payload are left out."""
        body = event_payload("", "", "", "", "", 0, "", self.CREATED, "", None)
        assert body == b'{"created_at":"2024-01-02T03:04:05.123456Z"}'

    def test_empty_object_payload_is_kept(self) -> None:
        """An empty payload object is still sent (a non-empty raw message)."""
        assert event_payload("a", "", "", "", "", 1, "", self.CREATED, "", {}).endswith(b'"event_payload":{}}')

    def test_empty_raw_payload_is_omitted(self) -> None:
        """An empty raw payload is left out."""
        assert b"event_payload" not in event_payload("a", "", "", "", "", 1, "", self.CREATED, "", RawJSON(b""))

    def test_raw_payload_keeps_stored_key_order(self) -> None:
        """A raw stored event payload keeps its key order and spelling, compacted."""
        body = event_payload("a", "", "", "", "", 1, "", self.CREATED, "", RawJSON(b'{"z": 1.0, "a": "<"}'))
        assert body.endswith(b'"event_payload":{"z":1.0,"a":"\\u003c"}}')

    def test_created_at_trims_trailing_zeros(self) -> None:
        """The creation time uses RFC 3339 with trailing fraction zeros trimmed."""
        created = datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
        assert b'"created_at":"2024-01-02T03:04:05.12Z"' in event_payload("a", "", "", "", "", 0, "", created, "", None)

    def test_created_at_keeps_its_offset(self) -> None:
        """A creation time in another zone is written with its offset, as Go formats it."""
        created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
        assert b'"created_at":"2024-01-02T03:04:05+02:00"' in event_payload(
            "a", "", "", "", "", 0, "", created, "", None
        )


class TestForwardedHeaders:
    def test_only_forwarded_headers_are_kept(self) -> None:
        """Headers outside the forwarded set are dropped."""
        kept = filter_forwarded_headers([("Authorization", "Bearer x"), ("Host", "h"), ("Cookie", "c")])
        assert kept == {"Host": ["h"]}

    def test_names_match_case_insensitively_and_are_canonicalised(self) -> None:
        """Any casing matches, and the output uses Go's canonical casing."""
        kept = filter_forwarded_headers([("x-forwarded-for", "1.2.3.4"), ("CONTENT-TYPE", "application/json")])
        assert kept == {"Content-Type": ["application/json"], "X-Forwarded-For": ["1.2.3.4"]}

    def test_keys_are_sorted(self) -> None:
        """The result's keys are in Go's map order."""
        pairs = [
            ("origin", "o"),
            ("x-forwarded-host", "f"),
            ("host", "h"),
            ("x-forwarded-for", "a"),
            ("content-type", "c"),
        ]
        assert list(filter_forwarded_headers(pairs)) == sorted(FORWARDED_HEADERS)

    def test_repeated_headers_keep_every_value_in_order(self) -> None:
        """Several values of one header become a list in arrival order."""
        kept = filter_forwarded_headers([("X-Forwarded-For", "a"), ("x-forwarded-for", "b")])
        assert kept == {"X-Forwarded-For": ["a", "b"]}

    def test_no_headers_give_an_empty_map(self) -> None:
        """Nothing to forward gives an empty dict (omitted from payloads)."""
        assert filter_forwarded_headers([]) == {}

    @given(st.lists(st.tuples(st.sampled_from([*FORWARDED_HEADERS, "Accept", "Cookie"]), st.text(max_size=5))))
    def test_filtered_headers_always_encode_sorted(self, pairs: list[tuple[str, str]]) -> None:
        """Whatever arrives, the payload's headers are canonical, forwarded and sorted."""
        body = json.loads(request_payload("/a.B/C", "", "", "", "", {}, filter_forwarded_headers(pairs)))
        headers = body.get("headers", {})
        assert list(headers) == sorted(headers)
        assert set(headers) <= set(FORWARDED_HEADERS)
