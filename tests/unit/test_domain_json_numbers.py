"""JSON numbers as Go reads them: NaN, infinities and overflowing floats are refused."""

from __future__ import annotations

import json

import pytest

from callout.domain.json_numbers import finite_float, refuse_constant


def _loads(text: str) -> object:
    return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)


class TestJsonNumbers:
    @pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[1e999]", '{"a":-1e400}'])
    def test_non_finite_numbers_are_refused(self, text: str) -> None:
        """Every spelling that would read as NaN or an infinity is a ValueError."""
        with pytest.raises(ValueError, match=r"is not JSON|is out of range"):
            _loads(text)

    def test_finite_floats_are_read(self) -> None:
        """Ordinary and extreme but finite floats are read unchanged."""
        assert _loads("[1.5, -2e-300, 1.7976931348623157e308]") == [1.5, -2e-300, 1.7976931348623157e308]
