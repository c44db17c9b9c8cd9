"""How deeply a JSON text nests, found without parsing it, so that no hostile body reaches a recursive walk.

Every JSON text callout reads from outside (request bodies on every transport, target answers) is
checked against ``MAX_JSON_DEPTH`` before it is parsed. Deeper texts are refused as bad input: Python's
parsers and callout's own encoders recurse once per level, and ~1,000 levels exhaust the interpreter's
stack (a RecursionError would surface as a 500). 100 levels is far beyond any message of the Action API
and leaves the encoders ample stack, even when the value is wrapped in a payload envelope.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_JSON_DEPTH = 100

# Strings may hold brackets that do not nest: drop them first. Linear: no nested quantifiers.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Opening brackets become +1 and closing ones -1 (as a signed byte); everything else is deleted.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[{]}")


def exceeds_json_depth(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``text`` nest more than ``limit`` levels deep.

    Invalid JSON is judged the same way (its parser will refuse it anyway); an unterminated string
    counts as text, not as brackets.
    """
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= limit:  # the common case: too few brackets to nest that deep
            return False
        return json_depth(text.encode("utf-8", "surrogatepass")) > limit
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    return json_depth(text) > limit


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (0 for a scalar)."""
    steps = _outside_strings(raw).translate(_STEPS, _NOT_BRACKETS)
    if not steps:
        return 0
    return max(0, max(accumulate(1 if step == 1 else -1 for step in steps)))


def _outside_strings(raw: bytes) -> bytes:
    """``raw`` without its strings."""
    # With no escaped quote and every string closed, quotes alternate into and out of strings, and
    # splitting at them is ~8x faster than the regular expression (same result).
    if b'\\"' not in raw and raw.count(b'"') % 2 == 0:
        return b"".join(raw.split(b'"')[::2])
    return _STRING.sub(b"", raw)
