"""The catalog file given to ``callout serve --catalog``: host methods, functions and event types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callout.domain.catalog import Catalog
from callout.errors import InvalidArgument
from callout.services.executions import catalog_from_file


def _write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


class TestCatalogFromFile:
    def test_entries_are_merged_into_the_catalog(self, tmp_path: Path) -> None:
        """Methods, functions and events of the file join the base catalog, and the method's service appears."""
        path = _write(
            tmp_path, {"methods": ["/shop.v1.Orders/Create"], "functions": ["prepay"], "events": ["order.paid"]}
        )
        catalog = catalog_from_file(Catalog(functions=frozenset({"preuserinfo"})), path)
        assert (catalog.services, catalog.functions, catalog.event_types) == (
            frozenset({"shop.v1.Orders"}),
            frozenset({"preuserinfo", "prepay"}),
            frozenset({"order.paid"}),
        )

    @pytest.mark.parametrize(
        "content",
        ["not json", ["a list"], {"methods": "one"}, {"methods": [1]}, {"methods": ["NoSlashes"]}, {"events": ["a/b"]}],
    )
    def test_malformed_file_is_invalid_argument(self, tmp_path: Path, content: object) -> None:
        """An unreadable file, a wrong shape or an invalid entry is a clear InvalidArgument."""
        with pytest.raises(InvalidArgument):
            catalog_from_file(Catalog(), _write(tmp_path, content))

    def test_missing_file_is_invalid_argument(self, tmp_path: Path) -> None:
        """A path that does not exist is InvalidArgument naming it."""
        with pytest.raises(InvalidArgument, match="catalog"):
            catalog_from_file(Catalog(), tmp_path / "absent.json")
