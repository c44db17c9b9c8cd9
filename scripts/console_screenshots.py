"""Take the console screenshots shown in the README (docs/images/console-*.png).

Starts ``callout serve --dev`` in a temporary directory, gives it a few targets, an event execution
whose target is a small receiver on 127.0.0.1, and a couple of delivered events, then signs in with
headless Chromium (/usr/bin/chromium, driven by Playwright) and saves the Overview, the Targets list
and one delivery at 1280 px wide.

    .venv/bin/python scripts/console_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from servers import free_port, start_callout  # noqa: E402 - bench/servers.py

ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"


class Receiver(BaseHTTPRequestHandler):
    """Answers every POST with 200 and a small JSON body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def seed(api: httpx.Client, receiver_url: str) -> None:
    """Targets, an event execution and a few delivered events."""
    for name in ("billing-webhook", "crm-sync", "fraud-check"):
        body = {"name": name, "endpoint": f"https://example.com/{name}", "timeout": "5s", "restWebhook": {}}
        api.post(f"{ACTION}/CreateTarget", json=body).raise_for_status()
    hook = {"name": "user-events", "endpoint": receiver_url, "timeout": "5s", "restWebhook": {}}
    target = api.post(f"{ACTION}/CreateTarget", json=hook).raise_for_status().json()["id"]
    api.post(f"{DISPATCH}/RegisterCatalog", json={"events": ["user.created"]}).raise_for_status()
    condition = {"event": {"event": "user.created"}}
    api.post(f"{ACTION}/SetExecution", json={"condition": condition, "targets": [target]}).raise_for_status()
    events = [
        {"aggregateType": "user", "aggregateId": f"u{n}", "eventType": "user.created", "payload": {"name": name}}
        for n, name in enumerate(("Ada Lovelace", "Grace Hopper", "Alan Turing"))
    ]
    api.post(f"{DISPATCH}/PushEvents", json={"events": events}).raise_for_status()
    time.sleep(3)  # the worker delivers them


def shoot(base_url: str, token: str, out: Path) -> None:
    """Sign in and save the three screenshots."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base_url}/console/sign-in")
        page.get_by_label("Personal access token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.screenshot(path=str(out / "console-overview.png"), full_page=True)
        page.get_by_role("link", name="Targets", exact=True).click()
        page.screenshot(path=str(out / "console-targets.png"), full_page=True)
        page.get_by_role("link", name="Deliveries", exact=True).click()
        page.locator("table a[href*='/console/deliveries/']").first.click()
        page.screenshot(path=str(out / "console-delivery.png"), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = start_callout(Path(directory), port, dev=True)
        try:
            base_url, token = f"http://127.0.0.1:{port}", (Path(directory) / "admin.pat").read_text().strip()
            with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as api:
                seed(api, f"http://127.0.0.1:{receiver.server_port}/hook")
            shoot(base_url, token, args.out)
        finally:
            server.terminate()
            server.wait(10)
    print(f"saved console-overview.png, console-targets.png, console-delivery.png in {args.out}")


if __name__ == "__main__":
    main()
