"""Reading a target's answer: parsed JSON, non-JSON bodies, forwarded errors and failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.delivery.sender import ConnectionFailed, DeliveryTimeout, OutboundResponse, ResponseTooLarge
from callout.engine.outcomes import delivery_failure, interpret_response, json_object
from callout.errors import CalloutError, DeadlineExceeded, FailedPrecondition, NotFound

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _answer(body: bytes, status: int = 200) -> Any:
    return interpret_response(OutboundResponse(status, body))


class TestParsing:
    def test_json_object_is_parsed(self) -> None:
        """A JSON object answer is parsed once and marked as JSON."""
        answer = _answer(b'{"id":"1","n":[1,2]}')
        assert (answer.is_json, answer.value) == (True, {"id": "1", "n": [1, 2]})

    def test_huge_integer_keeps_every_digit(self) -> None:
        """An integer beyond 64 bits reads back exactly, not as a rounded float."""
        assert _answer(b'{"n":123456789012345678901234567890}').value == {"n": 123456789012345678901234567890}

    def test_largest_unsigned_64_bit_integer_is_exact(self) -> None:
        """2**64 - 1 reads back as that integer."""
        assert _answer(b"[18446744073709551615]").value == [2**64 - 1]

    def test_nan_literal_is_not_json(self) -> None:
        """The non-standard NaN literal is not JSON: nothing could encode it again."""
        assert not _answer(b'{"x": NaN}').is_json

    def test_infinite_number_is_not_json(self) -> None:
        """A number beyond the double range is not JSON (Go refuses it too), rather than infinity."""
        assert not _answer(b'{"x": 1e400}').is_json

    def test_lone_surrogate_escape_reads_as_replacement_character(self) -> None:
        """A lone surrogate escape in a key or value reads as U+FFFD, as Go reads it."""
        assert _answer(b'{"\\udc00":"a\\ud800"}').value == {"\ufffd": "a\ufffd"}

    def test_surrogate_pair_escape_reads_as_its_character(self) -> None:
        """A valid surrogate pair escape next to a huge integer still reads as the one character it encodes."""
        assert _answer(b'["\\ud83d\\ude00",12345678901234567890]').value == ["\U0001f600", 12345678901234567890]

    def test_invalid_utf8_is_not_json(self) -> None:
        """Bytes that are not UTF-8 make an answer without a JSON value."""
        assert not _answer(b'{"x":"\xff"}').is_json

    def test_empty_body_is_not_json(self) -> None:
        """An empty 200 answer is a success without a JSON value."""
        answer = _answer(b"")
        assert (answer.is_json, answer.value) == (False, None)

    def test_whitespace_body_is_not_json(self) -> None:
        """A body of only whitespace is not JSON."""
        assert not _answer(b" \n\t ").is_json

    def test_text_body_is_not_json(self) -> None:
        """A plain-text body is kept as bytes without a value."""
        answer = _answer(b"ok")
        assert (answer.is_json, answer.body) == (False, b"ok")

    def test_non_object_is_refused_where_an_object_is_needed(self) -> None:
        """A JSON array is not a usable rest_call answer."""
        with pytest.raises(FailedPrecondition, match="not a JSON object"):
            json_object(_answer(b"[1]"))

    @given(JSON_VALUES)
    def test_any_json_value_reads_as_the_json_module_reads_it(self, value: Any) -> None:
        """Whatever parser runs, the value equals what json.loads gives for the same bytes."""
        body = json.dumps(value).encode()
        assert _answer(body).value == json.loads(body)


class TestEmptyAnswers:
    @pytest.mark.parametrize("body", [b"", b" ", b"\r\n\t "])
    def test_blank_body_is_empty(self, body: bytes) -> None:
        """A body with nothing or only whitespace is no answer (internal/execution/execution.go reads len > 0)."""
        assert _answer(body).is_empty

    @pytest.mark.parametrize("body", [b"null", b"{}", b"0", b"not json"])
    def test_body_with_content_is_not_empty(self, body: bytes) -> None:
        """``null``, ``{}`` and even a non-JSON body are answers, not empty ones."""
        assert not _answer(body).is_empty


class TestFailures:
    def test_non_2xx_fails(self) -> None:
        """A 500 is Errors.Execution.Failed."""
        with pytest.raises(CalloutError, match="HTTP 500"):
            _answer(b"{}", 500)

    def test_forwarded_404_becomes_not_found(self) -> None:
        """forwardedStatusCode 404 maps to NotFound with the forwarded message."""
        with pytest.raises(NotFound, match="no such user"):
            _answer(b'{"forwardedStatusCode":404,"forwardedErrorMessage":"no such user"}')

    def test_forwarded_message_is_the_client_message(self) -> None:
        """A forwarded error's client message is the target's text (internal/execution/execution.go)."""
        with pytest.raises(NotFound) as caught:
            _answer(b'{"forwardedStatusCode":404,"forwardedErrorMessage":"no such user"}')
        assert (caught.value.message, caught.value.message_id) == ("no such user", "Errors.Execution.Forwarded")

    def test_answer_nesting_past_the_limit_fails(self) -> None:
        """An answer nesting 101 levels is ResponseIsNotValidJSON, before any parser sees it."""
        with pytest.raises(FailedPrecondition, match="ResponseIsNotValidJSON"):
            _answer(b"[" * 101 + b"]" * 101)

    def test_answer_nesting_far_past_the_recursion_limit_fails_cleanly(self) -> None:
        """An answer nesting 100,000 levels is the same clean failure, not a RecursionError."""
        with pytest.raises(FailedPrecondition, match="ResponseIsNotValidJSON"):
            _answer(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)

    def test_answer_nesting_exactly_to_the_limit_is_read(self) -> None:
        """An answer nesting 100 levels is read."""
        assert _answer(b"[" * 100 + b"]" * 100).is_json


class TestDeliveryFailures:
    def test_timeout_is_deadline_exceeded(self) -> None:
        """A transport timeout becomes DeadlineExceeded Errors.Execution.Timeout."""
        error = delivery_failure(DeliveryTimeout("slow"))
        assert (type(error), error.message_id) == (DeadlineExceeded, "Errors.Execution.Timeout")

    def test_oversized_answer_says_so(self) -> None:
        """An answer over the read limit becomes Errors.Execution.Failed naming the size problem."""
        error = delivery_failure(ResponseTooLarge("the response body exceeds 10 bytes"))
        assert (type(error), error.message_id, "too large" in error.detail) == (
            FailedPrecondition,
            "Errors.Execution.Failed",
            True,
        )

    def test_broken_connection_is_failed(self) -> None:
        """A reset connection becomes Errors.Execution.Failed."""
        assert delivery_failure(ConnectionFailed("reset")).message_id == "Errors.Execution.Failed"
