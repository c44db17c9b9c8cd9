"""The Overview page: the instance, its Actions switch, catalog sizes, delivery health and the queue."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.api.oidc import KEYS_PATH
from callout.console.guards import require_form, require_session, require_write
from callout.console.web import PREFIX, PageError, redirect, render
from callout.services.console_overview import FIGURES_TTL_SECONDS, OUTCOMES, Overview, load_overview, switch_actions

# The chart's drawing units: one column per hour, bars stacked bottom-up in OUTCOMES order.
CHART_HEIGHT = 120
COLUMN_WIDTH = 20
BAR_WIDTH = 14


@dataclass(frozen=True)
class Bar:
    """One rectangle of the inline SVG chart, with its outcome (the CSS class that colours it)."""

    outcome: str
    x: int
    y: float
    height: float
    width: int = BAR_WIDTH


def routes() -> list[BaseRoute]:
    """The Overview and the Actions switch."""
    return [
        Route("/", overview_page, methods=["GET"]),
        Route("/features/actions", actions_submit, methods=["POST"]),
    ]


async def overview_page(request: Request) -> Response:
    """Show the Overview of the signed-in instance."""
    signed_in = await require_session(request)
    state = request.app.state.console
    overview = await load_overview(state.context, signed_in.principal.instance_id, state.figures)
    jwks_url = f"{KEYS_PATH}?{urlencode({'instance': overview.instance.id})}"
    return render(
        request,
        "overview.html",
        signed_in,
        overview=overview,
        bars=chart_bars(overview),
        outcomes=OUTCOMES,
        jwks_url=jwks_url,
        chart_width=COLUMN_WIDTH * len(overview.hours),
        chart_height=CHART_HEIGHT,
        figures_ttl=f"{FIGURES_TTL_SECONDS:g}",
    )


async def actions_submit(request: Request) -> Response:
    """Switch the Actions feature (owners only), then show the Overview again."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    wanted = form.get("enabled")
    if wanted not in ("true", "false"):
        raise PageError(400, "Bad request", "Choose to switch Actions on or off.")
    await switch_actions(request.app.state.console.context, signed_in.principal.instance_id, wanted == "true")
    return redirect(f"{PREFIX}/")


def chart_bars(overview: Overview) -> list[Bar]:
    """The chart's rectangles, scaled so the busiest hour fills the height."""
    scale = CHART_HEIGHT / overview.busiest_hour
    bars: list[Bar] = []
    for column, hour in enumerate(overview.hours):
        bottom = float(CHART_HEIGHT)
        for outcome in OUTCOMES:
            height = hour.counts[outcome] * scale
            if height > 0:
                bottom -= height
                bars.append(Bar(outcome, column * COLUMN_WIDTH + 3, round(bottom, 2), round(height, 2)))
    return bars
