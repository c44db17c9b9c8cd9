"""The Overview's health chart: bars stacked per hour and scaled to the busiest hour (docs/console.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callout.console.overview import CHART_HEIGHT, COLUMN_WIDTH, chart_bars
from callout.domain.instances import Instance
from callout.services.console_overview import HourHealth, Overview

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def _overview(*counts: dict[str, int]) -> Overview:
    """An overview whose hours have the given counts by outcome."""
    hours = [HourHealth(T0 + timedelta(hours=n)) for n in range(len(counts))]
    for hour, given in zip(hours, counts, strict=True):
        hour.counts.update(given)
    instance = Instance(id="1", name="n", default_org_id="2", creation_date=T0)
    return Overview(instance, True, 0, 0, hours, 0, None)


class TestChartBars:
    def test_busiest_hour_fills_the_height(self) -> None:
        """The hour with the most deliveries reaches the top; one with half as many reaches half."""
        bars = chart_bars(_overview({"succeeded": 4}, {"succeeded": 2}))
        assert [(bar.y, bar.height) for bar in bars] == [(0, CHART_HEIGHT), (CHART_HEIGHT / 2, CHART_HEIGHT / 2)]

    def test_outcomes_stack_bottom_up_in_one_column(self) -> None:
        """Succeeded sits at the bottom, failed on it, retrying on top, all in the hour's column."""
        bars = chart_bars(_overview({}, {"succeeded": 1, "failed": 1, "retrying": 2}))
        assert [bar.outcome for bar in bars] == ["succeeded", "failed", "retrying"]
        assert [bar.y for bar in bars] == [90, 60, 0]
        assert {bar.x for bar in bars} == {COLUMN_WIDTH + 3}

    def test_empty_hours_draw_nothing(self) -> None:
        """With no deliveries there are no bars (the page says so in words)."""
        assert chart_bars(_overview({}, {})) == []
