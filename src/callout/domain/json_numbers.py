"""JSON numbers as Go reads them: no NaN or infinities, and no float that overflows to one.

Python's json module accepts ``NaN``, ``Infinity`` and ``1e999``; Go's encoding/json refuses them, and
callout's payload encoder cannot write them. Every JSON text read from outside is parsed with these
hooks, so what is read always encodes again.
"""

from __future__ import annotations

import math
from typing import Any


class NonFiniteNumber(ValueError):
    """A JSON text holds NaN, an infinity, or a number too large for a float."""


def refuse_constant(literal: str) -> Any:
    """``parse_constant`` hook: NaN and the infinities are not JSON."""
    raise NonFiniteNumber(f"{literal} is not JSON")


def finite_float(text: str) -> float:
    """``parse_float`` hook: a number too large for a float is refused rather than read as infinity."""
    number = float(text)
    if math.isinf(number):
        raise NonFiniteNumber(f"{text[:50]} is out of range")
    return number
