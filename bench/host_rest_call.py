"""Benchmark: a host request with one ``rest_call`` request execution, embedded and remote, against the app
calling the same target itself.

A receiver process on 127.0.0.1 answers every POST with a small JSON object (bench/receiver.py).
``callout serve --dev`` (SQLite in a temporary directory) holds one rest_call target pointing at it,
bound to the request of ``CreateUser``. Three copies of a FastAPI app (``POST /users``) are served by
uvicorn in one background thread:

* bare: the handler itself POSTs the request body to the receiver (one shared aiohttp session) and
  returns its answer: what a host app without callout pays for the same call;
* embedded: the app returns the body it gets, wrapped with CalloutMiddleware on an EmbeddedDispatch
  (callout's engine in this process, on the server's database and master key);
* remote: the same app wrapped with CalloutMiddleware on a DispatchClient (a Dispatch round trip to
  callout serve, which calls the receiver).

In one run, alternating in blocks, one keep-alive connection per app measures N requests of each and
prints p50/p99, embedded's and remote's p50 against bare, and remote's against embedded.

    .venv/bin/python bench/host_rest_call.py --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import structlog
from fastapi import FastAPI, Request
from host_overhead import serve_in_thread  # bench/host_overhead.py (run from bench/ on sys.path)
from servers import free_port, start_callout

from callout.delivery.dispatch_client import DispatchClient
from callout.embedded import EmbeddedDispatch
from callout.integrations.asgi import CalloutMiddleware
from callout.settings import Settings

SERVICE = "bench.users.v1.UserService"
METHOD = f"/{SERVICE}/CreateUser"
RECEIVER = Path(__file__).with_name("receiver.py")
BLOCK = 100
BODY = {"name": "Ada", "email": "ada@example.com"}


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/users", name="create_user")
    async def create_user(request: Request) -> dict[str, Any]:
        return {"user": await request.json()}

    return app


def _calling_app(target_url: str) -> FastAPI:
    """The app that calls the target itself, as a host without callout would."""
    app = FastAPI()
    sessions: list[aiohttp.ClientSession] = []

    @app.post("/users", name="create_user")
    async def create_user(request: Request) -> dict[str, Any]:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        async with sessions[0].post(target_url, data=await request.body()) as answer:
            return {"user": await answer.json()}

    return app


@contextlib.contextmanager
def _receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(RECEIVER), str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                httpx.post(f"http://127.0.0.1:{port}/")
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(10)


async def _bind_target(url: str, token: str, target_url: str) -> None:
    async with DispatchClient(url, token) as client:
        await client.register_catalog(methods=[METHOD])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{url}/zitadel.action.v2.ActionService", headers=headers) as api:
        body = {"name": "bench", "endpoint": target_url, "timeout": "5s", "restCall": {"interruptOnError": True}}
        target = (await api.post("/CreateTarget", json=body)).raise_for_status().json()["id"]
        condition = {"request": {"method": METHOD}}
        (await api.post("/SetExecution", json={"condition": condition, "targets": [target]})).raise_for_status()


def _measure(clients: dict[str, httpx.Client], calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for client in clients.values():  # warm-up: first snapshot, registration, connections
        for _ in range(100):
            client.post("/users", json=BODY).raise_for_status()
    for start in range(0, calls, BLOCK):
        for name, client in clients.items():
            for _ in range(start, min(calls, start + BLOCK)):
                began = time.perf_counter()
                client.post("/users", json=BODY).raise_for_status()
                samples[name].append((time.perf_counter() - began) * 1000)
    return samples


def _report(samples: dict[str, list[float]]) -> None:
    p50 = {name: sorted(values)[len(values) // 2] for name, values in samples.items()}
    print(f"{'app':<34} {'p50 ms':>8} {'p99 ms':>8}")
    for name, values in samples.items():
        ordered = sorted(values)
        print(f"{name:<34} {p50[name]:>8.3f} {ordered[int(len(ordered) * 0.99) - 1]:>8.3f}")
    bare = p50["bare (calls the target itself)"]
    print(f"embedded p50 / bare p50:   {p50['embedded'] / bare:.3f}x")
    print(f"remote p50 / bare p50:     {p50['remote'] / bare:.3f}x")
    print(f"remote p50 / embedded p50: {p50['remote'] / p50['embedded']:.3f}x")


def _apps(directory: str, url: str, token: str, target_url: str) -> dict[str, Any]:
    embedded = EmbeddedDispatch(token, settings=Settings(data_dir=Path(directory), dev=True))
    return {
        "bare (calls the target itself)": _calling_app(target_url),
        "embedded": CalloutMiddleware(_echo_app(), client=embedded, service=SERVICE),
        "remote": CalloutMiddleware(_echo_app(), client=DispatchClient(url, token), service=SERVICE),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="requests per app (default 2000)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as directory, _receiver() as target_url:
        port = free_port()
        callout = start_callout(Path(directory), port, dev=True)
        try:
            url = f"http://127.0.0.1:{port}"
            token = (Path(directory) / "admin.pat").read_text().strip()
            asyncio.run(_bind_target(url, token, target_url))
            apps = _apps(directory, url, token, target_url)
            ports = serve_in_thread(apps)
            clients = {name: httpx.Client(base_url=f"http://127.0.0.1:{ports[name]}") for name in apps}
            _report(_measure(clients, args.calls))
        finally:
            callout.terminate()
            callout.wait(10)


if __name__ == "__main__":
    main()
