"""The Sender seam's value types: response headers and the 2xx test."""

from __future__ import annotations

import pytest

from callout.delivery.sender import OutboundResponse, ResponseHeaders


class TestResponseHeaders:
    def test_lookup_ignores_case(self) -> None:
        """A name is found whatever case the lookup uses."""
        assert ResponseHeaders([("retry-after", "2")])["Retry-After"] == "2"

    def test_repeats_are_joined_under_the_first_spelling(self) -> None:
        """Repeats in another case fold into the first spelling, values joined by ", "."""
        headers = ResponseHeaders([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X", "y")])
        assert dict(headers) == {"Set-Cookie": "a=1, b=2", "X": "y"}

    def test_missing_name_raises_key_error(self) -> None:
        """An absent header is a KeyError, and get() gives the default."""
        headers = ResponseHeaders([("X", "y")])
        with pytest.raises(KeyError):
            headers["Retry-After"]
        assert headers.get("Retry-After") is None

    def test_membership_ignores_case(self) -> None:
        """``in`` finds a name in any case and is False for non-strings."""
        headers = ResponseHeaders([("Content-Type", "text/plain")])
        assert ("content-type" in headers, 1 in headers) == (True, False)

    def test_equals_a_plain_dict_of_the_same_headers(self) -> None:
        """The mapping compares equal to the dict of its names and values."""
        assert ResponseHeaders([("A", "1")]) == {"A": "1"}

    def test_repr_shows_the_headers(self) -> None:
        """The repr lists names and values."""
        assert repr(ResponseHeaders([("A", "1")])) == "ResponseHeaders({'A': '1'})"


class TestOutboundResponse:
    @pytest.mark.parametrize(("status", "ok"), [(199, False), (200, True), (299, True), (300, False)])
    def test_ok_means_2xx(self, status: int, ok: bool) -> None:
        """Only a 2xx status is ok."""
        assert OutboundResponse(status, b"").ok is ok
