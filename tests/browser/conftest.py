"""Browser tests of the web console: Playwright drives the system's Chromium against a real ``callout serve``.

Every test here is marked e2e (so `-m 'not e2e'` leaves it out) and saves a screenshot under
``artifacts/browser/``. Chromium comes from the system (``/usr/bin/chromium``, Debian's package;
scripts/test.sh installs it when missing); Playwright never downloads a browser. Without Chromium
or Playwright the tests are skipped, except under ``CI=true``, where they fail (docs/console.md).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, StartServer, make_database, start_server

__all__ = ["make_database", "start_server"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test starts a server process: marked e2e like tests/e2e."""
    browser_dir = Path(__file__).parent
    for item in items:
        if browser_dir in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run under CI=true: {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    """The system's Chromium, if installed."""
    found = [path for path in CHROMIUM_CANDIDATES if Path(path).exists()]
    return found[0] if found else shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Chromium process per test module (Playwright's sync API over the system's binary).

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    while it is open, and the async tests of other modules run in the same process afterwards.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.lock)")
    executable = chromium_path()
    if executable is None:
        _unavailable("Chromium is not installed (apt-get install -y chromium)")
    # Chromium refuses to run as root with its sandbox on (containers and CI runners often are root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@dataclass
class Visit:
    """A browser page and what it reported: console errors and uncaught exceptions."""

    page: Any
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_error(self, pattern: str) -> None:
        """Allow console errors matching ``pattern`` (e.g. the 403 a refused request logs)."""
        self.expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        """The reported errors no ``expect_error`` allowed."""
        return [error for error in self.errors if not any(pattern.search(error) for pattern in self.expected)]


OpenPage = Callable[..., Visit]


@pytest.fixture
def open_page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """Factory: a page in a fresh browser context (own cookies); at the end a screenshot and no stray errors."""
    visits: list[Visit] = []

    def open_one(viewport: dict[str, int] | None = None) -> Visit:
        page = chromium.new_context(viewport=viewport or DESKTOP).new_page()
        visit = Visit(page)
        page.on("console", lambda message: message.type == "error" and visit.errors.append(message.text))
        page.on("pageerror", lambda error: visit.errors.append(f"pageerror: {error}"))
        visits.append(visit)
        return visit

    yield open_one
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for number, visit in enumerate(visits):
        visit.page.screenshot(path=str(ARTIFACTS / f"{name}-{number}.png"), full_page=True)
        visit.page.context.close()
    stray = [error for visit in visits for error in visit.unexpected_errors()]
    assert not stray, f"errors in the browser console: {stray}"


@pytest.fixture(scope="module")
def console_server(start_server: StartServer) -> Server:
    """A ``callout serve`` on SQLite for a module's browser tests."""
    return start_server("sqlite")


def sign_in(visit: Visit, server: Server, token: str) -> None:
    """Sign in through the form, as a person would: by the field's label and the button's name."""
    page = visit.page
    page.goto(f"{server.base_url}/console/sign-in")
    page.get_by_label("Personal access token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
