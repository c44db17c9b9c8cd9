"""Pagination in list requests and responses."""

from __future__ import annotations

import pytest

from callout.api.messages.common import decode_pagination, encode_pagination
from callout.api.protojson import Fields
from callout.domain.queries import Pagination
from callout.errors import InvalidArgument


class TestDecodePagination:
    def test_absent_pagination_is_the_default(self) -> None:
        """Without pagination the defaults apply."""
        assert decode_pagination(Fields({})) == Pagination()

    def test_fields_are_read(self) -> None:
        """offset, limit and asc are read, uint64 offset also as a string."""
        request = Fields({"pagination": {"offset": "5", "limit": 10, "asc": True}})
        assert decode_pagination(request) == Pagination(offset=5, limit=10, asc=True)

    def test_limit_above_uint32_is_rejected(self) -> None:
        """A limit that does not fit uint32 is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_pagination(Fields({"pagination": {"limit": 1 << 32}}))

    def test_negative_offset_is_rejected(self) -> None:
        """A negative offset is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_pagination(Fields({"pagination": {"offset": -1}}))


class TestEncodePagination:
    def test_values_are_uint64_strings(self) -> None:
        """totalResult and appliedLimit are written as strings."""
        assert encode_pagination(3, 100) == {"totalResult": "3", "appliedLimit": "100"}

    def test_zero_total_is_omitted(self) -> None:
        """A zero total is left out, as protojson omits defaults."""
        assert encode_pagination(0, 100) == {"appliedLimit": "100"}

    def test_all_zero_is_empty(self) -> None:
        """With both values zero the message is empty."""
        assert encode_pagination(0, 0) == {}
