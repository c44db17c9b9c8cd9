"""List queries shared by every list RPC: pagination, text filters and sort columns (docs/behaviour.md, Targets)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from callout.errors import InvalidArgument

_T = TypeVar("_T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Offsets arrive as uint64 but databases take signed 64-bit; no result set is anywhere near this.
MAX_OFFSET = 1 << 62


@dataclass(frozen=True)
class Pagination:
    """Offset, limit (0 means the default) and direction; descending unless asc."""

    offset: int = 0
    limit: int = 0
    asc: bool = False

    @property
    def applied_limit(self) -> int:
        """The limit actually used: the default for 0, an error above the maximum."""
        if self.limit > MAX_LIMIT:
            raise InvalidArgument("Errors.Query.LimitExceeded", f"limit must be at most {MAX_LIMIT}")
        return self.limit or DEFAULT_LIMIT

    @property
    def applied_offset(self) -> int:
        """The offset, capped so that the database can represent it (past the end is empty anyway)."""
        return min(self.offset, MAX_OFFSET)


class TextFilterMethod(enum.IntEnum):
    """How a text filter compares, with ZITADEL's enum numbers."""

    EQUALS = 0
    EQUALS_IGNORE_CASE = 1
    STARTS_WITH = 2
    STARTS_WITH_IGNORE_CASE = 3
    CONTAINS = 4
    CONTAINS_IGNORE_CASE = 5
    ENDS_WITH = 6
    ENDS_WITH_IGNORE_CASE = 7

    @property
    def ignores_case(self) -> bool:
        """The odd members compare case-insensitively."""
        return self.value % 2 == 1


@dataclass(frozen=True)
class TextFilter:
    """Compare a text column with a value."""

    value: str
    method: TextFilterMethod = TextFilterMethod.EQUALS


class TargetSortField(enum.IntEnum):
    """Columns ListTargets can sort by; UNSPECIFIED means creation date."""

    UNSPECIFIED = 0
    ID = 1
    CREATED_DATE = 2
    CHANGED_DATE = 3
    NAME = 4
    TARGET_TYPE = 5
    URL = 6
    TIMEOUT = 7
    INTERRUPT_ON_ERROR = 8


@dataclass(frozen=True)
class TargetQuery:
    """A ListTargets query; filters are ANDed."""

    pagination: Pagination = field(default_factory=Pagination)
    sort: TargetSortField = TargetSortField.UNSPECIFIED
    name_filters: tuple[TextFilter, ...] = ()
    id_filters: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Page(Generic[_T]):
    """One page of results and the total number of matches."""

    items: tuple[_T, ...]
    total: int
    applied_limit: int
