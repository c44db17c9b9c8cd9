"""Message parts shared by every list RPC: pagination in, pagination out."""

from __future__ import annotations

from typing import Any

from callout.api.protojson import Fields, format_uint64
from callout.domain.queries import Pagination


def decode_pagination(request: Fields) -> Pagination:
    """Read ``pagination{offset, limit, asc}``; absent means the defaults."""
    part = request.message("pagination")
    if part is None:
        return Pagination()
    return Pagination(
        offset=part.uint("offset") or 0,
        limit=part.uint("limit", bits=32) or 0,
        asc=bool(part.boolean("asc")),
    )


def encode_pagination(total: int, applied_limit: int) -> dict[str, Any]:
    """Write ``pagination{totalResult, appliedLimit}`` with zero values omitted, as protojson does."""
    body: dict[str, Any] = {}
    if total:
        body["totalResult"] = format_uint64(total)
    if applied_limit:
        body["appliedLimit"] = format_uint64(applied_limit)
    return body
