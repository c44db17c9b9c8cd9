"""Catalog caps and the settings that configure them."""

from __future__ import annotations

import pytest

from callout.domain.catalog import CatalogLimits
from callout.errors import InvalidArgument, ResourceExhausted
from callout.settings import Settings

KINDS = ["method", "function", "event"]


class TestCatalogLimits:
    def test_defaults_are_ten_thousand_methods_and_a_thousand_of_the_others(self) -> None:
        """The default caps per instance: 10,000 methods, 1,000 functions, 1,000 event types."""
        limits = CatalogLimits()
        assert [limits.of(kind) for kind in KINDS] == [10_000, 1_000, 1_000]

    @pytest.mark.parametrize("kind", KINDS)
    def test_call_at_the_cap_passes(self, kind: str) -> None:
        """A call with exactly the cap of a kind is accepted."""
        CatalogLimits(2, 2, 2).check_call(kind, 2)

    @pytest.mark.parametrize("kind", KINDS)
    def test_call_over_the_cap_is_invalid_argument(self, kind: str) -> None:
        """A call with one entry more than the cap is InvalidArgument naming the cap."""
        with pytest.raises(InvalidArgument, match="at most 2"):
            CatalogLimits(2, 2, 2).check_call(kind, 3)

    @pytest.mark.parametrize("kind", KINDS)
    def test_total_over_the_cap_is_resource_exhausted(self, kind: str) -> None:
        """An instance that would hold one entry more than the cap is ResourceExhausted."""
        with pytest.raises(ResourceExhausted, match="at most 2"):
            CatalogLimits(2, 2, 2).check_total(kind, 3)


class TestCatalogSettings:
    def test_caps_come_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """CALLOUT_CATALOG_MAX_METHODS, _FUNCTIONS and _EVENTS set the caps."""
        monkeypatch.setenv("CALLOUT_CATALOG_MAX_METHODS", "50")
        monkeypatch.setenv("CALLOUT_CATALOG_MAX_FUNCTIONS", "5")
        monkeypatch.setenv("CALLOUT_CATALOG_MAX_EVENTS", "7")
        assert Settings().catalog_limits() == CatalogLimits(50, 5, 7)

    def test_default_settings_give_the_default_caps(self) -> None:
        """Without configuration the settings give CatalogLimits' defaults."""
        assert Settings().catalog_limits() == CatalogLimits()
