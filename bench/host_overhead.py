"""Benchmark: what CalloutMiddleware adds to a host app's request when no execution is configured.

Starts ``callout serve`` (SQLite in a temporary directory) with no execution, and serves four copies
of a FastAPI app (``GET /users/{id}``) with uvicorn on 127.0.0.1 in a background thread: bare, wrapped
with the middleware (routing snapshot, the default), wrapped with the middleware on the embedded
engine (``EmbeddedDispatch`` on the server's database: its snapshot is read from the database), and
wrapped with a client that keeps no snapshot (``keep_routing=False``: one Dispatch round trip per
request, the behaviour before snapshots). In one
run, alternating in blocks, one keep-alive connection per app measures N requests of each and prints
p50/p99 and the p50 ratios against the bare app. Bounded: well under a minute with the defaults.

    .venv/bin/python bench/host_overhead.py --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import structlog
import uvicorn
from fastapi import FastAPI
from servers import free_port, start_callout  # bench/servers.py (run from bench/ on sys.path)

from callout.delivery.dispatch_client import DispatchClient
from callout.embedded import EmbeddedDispatch
from callout.integrations.asgi import CalloutMiddleware
from callout.settings import Settings

SERVICE = "bench.users.v1.UserService"
BLOCK = 100


def _users_app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}", name="get_user")
    async def get_user(user_id: str) -> dict[str, Any]:
        return {"user": {"id": user_id, "name": "Ada"}}

    return app


def serve_in_thread(apps: dict[str, Any]) -> dict[str, int]:
    """Serve each app with uvicorn in one background event loop; return their ports."""
    ports = {name: free_port() for name in apps}
    servers = [
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=ports[name], log_level="warning", access_log=False))
        for name, app in apps.items()
    ]

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    threading.Thread(target=asyncio.run, args=(serve_all(),), daemon=True).start()
    while not all(server.started for server in servers):
        time.sleep(0.05)
    return ports


def _measure(clients: dict[str, httpx.Client], calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for client in clients.values():  # warm-up: first snapshot, registration, connections
        for index in range(100):
            client.get(f"/users/{index}").raise_for_status()
    for start in range(0, calls, BLOCK):
        for name, client in clients.items():
            for index in range(start, min(calls, start + BLOCK)):
                began = time.perf_counter()
                client.get(f"/users/{index}").raise_for_status()
                samples[name].append((time.perf_counter() - began) * 1000)
    return samples


def _report(samples: dict[str, list[float]]) -> None:
    bare = statistics.median(samples["bare"])
    print(f"{'app':<28} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10}")
    for name, values in samples.items():
        ordered = sorted(values)
        p50, p99 = statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]
        print(f"{name:<28} {p50:>8.3f} {p99:>8.3f} {p50 / bare:>9.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="requests per app (default 2000)")
    args = parser.parse_args()
    # At the end callout stops before the hosts' routing polls do: their warning is expected here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        callout = start_callout(Path(directory), port)
        try:
            token = (Path(directory) / "admin.pat").read_text().strip()
            url = f"http://127.0.0.1:{port}"
            apps = {
                "bare": _users_app(),
                "middleware (snapshot)": CalloutMiddleware(
                    _users_app(), client=DispatchClient(url, token), service=SERVICE
                ),
                "embedded (snapshot)": CalloutMiddleware(
                    _users_app(),
                    client=EmbeddedDispatch(token, settings=Settings(data_dir=Path(directory))),
                    service=SERVICE,
                ),
                "middleware (no snapshot)": CalloutMiddleware(
                    _users_app(), client=DispatchClient(url, token, keep_routing=False), service=SERVICE
                ),
            }
            ports = serve_in_thread(apps)
            clients = {name: httpx.Client(base_url=f"http://127.0.0.1:{ports[name]}") for name in apps}
            _report(_measure(clients, args.calls))
        finally:
            callout.terminate()
            callout.wait(10)


if __name__ == "__main__":
    main()
