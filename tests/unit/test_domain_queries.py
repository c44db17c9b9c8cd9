"""List queries: pagination limits and offsets, and text filter methods (docs/behaviour.md, Targets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.domain.queries import DEFAULT_LIMIT, MAX_LIMIT, Pagination, TextFilterMethod
from callout.errors import InvalidArgument


class TestPagination:
    def test_defaults(self) -> None:
        """An empty pagination starts at offset 0, descending."""
        assert (Pagination().offset, Pagination().asc) == (0, False)

    def test_zero_limit_means_100(self) -> None:
        """A limit of 0 applies the default of 100."""
        assert Pagination(limit=0).applied_limit == DEFAULT_LIMIT == 100

    def test_1000_is_allowed(self) -> None:
        """A limit of exactly 1000 is applied as is."""
        assert Pagination(limit=1000).applied_limit == MAX_LIMIT == 1000

    def test_1001_exceeds_the_limit(self) -> None:
        """A limit of 1001 is InvalidArgument Errors.Query.LimitExceeded."""
        with pytest.raises(InvalidArgument) as caught:
            _ = Pagination(limit=1001).applied_limit
        assert caught.value.message_id == "Errors.Query.LimitExceeded"

    @given(st.integers(min_value=1, max_value=1000))
    def test_limits_in_range_are_applied_unchanged(self, limit: int) -> None:
        """Every limit from 1 to 1000 is applied unchanged."""
        assert Pagination(limit=limit).applied_limit == limit

    @given(st.integers(min_value=1001, max_value=(1 << 32) - 1))
    def test_limits_above_1000_are_rejected(self, limit: int) -> None:
        """Every limit above 1000 is rejected."""
        with pytest.raises(InvalidArgument):
            _ = Pagination(limit=limit).applied_limit

    @given(st.integers(min_value=0, max_value=(1 << 62)))
    def test_representable_offset_is_kept(self, offset: int) -> None:
        """An offset the database can hold is applied unchanged."""
        assert Pagination(offset=offset).applied_offset == offset

    @given(st.integers(min_value=(1 << 62) + 1, max_value=(1 << 64) - 1))
    def test_huge_offset_fits_a_signed_64_bit_column(self, offset: int) -> None:
        """A uint64 offset too big for a signed 64-bit column is capped below 2**63."""
        assert Pagination(offset=offset).applied_offset < 1 << 63


class TestTextFilterMethod:
    @pytest.mark.parametrize("method", list(TextFilterMethod), ids=lambda method: method.name)
    def test_ignores_case_matches_the_name(self, method: TextFilterMethod) -> None:
        """Exactly the *_IGNORE_CASE methods ignore case."""
        assert method.ignores_case is method.name.endswith("_IGNORE_CASE")

    def test_numbers_match_zitadel(self) -> None:
        """The enum numbers are ZITADEL's TextFilterMethod numbers."""
        assert [(method.name, method.value) for method in TextFilterMethod] == [
            ("EQUALS", 0),
            ("EQUALS_IGNORE_CASE", 1),
            ("STARTS_WITH", 2),
            ("STARTS_WITH_IGNORE_CASE", 3),
            ("CONTAINS", 4),
            ("CONTAINS_IGNORE_CASE", 5),
            ("ENDS_WITH", 6),
            ("ENDS_WITH_IGNORE_CASE", 7),
        ]
