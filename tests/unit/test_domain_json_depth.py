"""The JSON depth check: counts nesting outside strings, without parsing."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth, json_depth

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=30,
)


_ODD_ALPHABET = bytes.maketrans(bytes(range(256)), bytes(b'a"\\[]{}x'[byte % 8] for byte in range(256)))
_PLAIN_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _scanned_depth(raw: bytes) -> int:
    """The oracle: strings dropped by one regular expression, then brackets counted one by one."""
    depth = deepest = 0
    for byte in _PLAIN_STRING.sub(b"", raw):
        depth += 1 if byte in b"[{" else -1 if byte in b"]}" else 0
        deepest = max(deepest, depth)
    return deepest


def _nested_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_nested_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_nested_depth(item) for item in value.values()), default=0)
    return 0


class TestJsonDepth:
    @given(_JSON)
    def test_depth_of_encoded_values_matches_their_nesting(self, value: object) -> None:
        """The depth found in the text equals the nesting of the value it encodes."""
        assert json_depth(json.dumps(value).encode()) == _nested_depth(value)

    @given(_JSON)
    def test_depth_ignores_unescaped_brackets_inside_strings(self, value: object) -> None:
        """Brackets and escaped quotes inside strings do not count."""
        text = json.dumps({"s": '[[[{{"\\]', "v": value}, ensure_ascii=False).encode()
        assert json_depth(text) == 1 + _nested_depth(value)

    @given(st.binary(max_size=40).map(lambda raw: raw.translate(_ODD_ALPHABET)))
    def test_fast_string_skipping_agrees_with_the_plain_scan(self, raw: bytes) -> None:
        """On any text of quotes, backslashes and brackets, the depth equals a plain left-to-right scan's."""
        assert json_depth(raw) == _scanned_depth(raw)

    def test_a_scalar_has_depth_zero(self) -> None:
        """A text without arrays or objects is depth 0."""
        assert json_depth(b'"x"') == 0


class TestExceedsJsonDepth:
    def test_the_limit_itself_is_allowed(self) -> None:
        """Nesting exactly MAX_JSON_DEPTH levels is accepted."""
        assert not exceeds_json_depth(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)

    def test_one_level_more_is_refused(self) -> None:
        """Nesting one level past MAX_JSON_DEPTH is refused."""
        depth = MAX_JSON_DEPTH + 1
        assert exceeds_json_depth(b'{"a":' * depth + b"1" + b"}" * depth)

    def test_unclosed_brackets_count_as_depth(self) -> None:
        """A truncated hostile text (opening brackets only) is refused too."""
        assert exceeds_json_depth("[" * 100_000)

    def test_many_shallow_brackets_are_allowed(self) -> None:
        """Thousands of sibling arrays are wide, not deep."""
        assert not exceeds_json_depth(b"[" + b"[1]," * 5000 + b"[1]]")

    def test_brackets_in_a_long_string_are_allowed(self) -> None:
        """A string full of brackets does not nest."""
        assert not exceeds_json_depth(json.dumps({"s": "[" * 10_000}))

    def test_invalid_utf8_is_judged_without_error(self) -> None:
        """Bytes that are not UTF-8 are still scanned."""
        assert exceeds_json_depth(b"\xff" + b"[" * 200)
