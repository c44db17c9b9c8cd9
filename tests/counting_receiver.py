"""A webhook receiver meant to run in its own process: counts deliveries by ``webhook-id``.

Run ``python tests/counting_receiver.py [--mode ok|429-once] [--retry-after SECONDS] [--delay SECONDS]``; it binds an
ephemeral port on 127.0.0.1 and prints that port as its first line of stdout. Every request other than
``GET /stats``, ``GET /log`` and ``GET /sample`` is a delivery: it is counted under its ``webhook-id`` header with the
wall-clock time it arrived. In mode ``429-once`` the first request of every webhook-id is answered 429
with ``Retry-After``; every later one (and every request in mode ``ok``) is answered 200. With
``--delay`` every delivery is answered that many seconds after it arrived (it is counted on arrival).

``GET /stats`` answers ``{received, distinct, maxPerId, first, last}`` (times: ``time.time()``);
``GET /log`` answers ``{hits: [[webhookId, time, status], ...]}`` in arrival order; ``GET /sample``
answers the body of the latest delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiohttp import web

OK_BODY = b'{"ok":true}'


class Counter:
    """What the receiver got so far."""

    def __init__(self, mode: str, retry_after: str, delay: float = 0.0) -> None:
        self.mode = mode
        self.retry_after = retry_after
        self.delay = delay
        self.per_id: dict[str, int] = {}
        self.hits: list[tuple[str, float, int]] = []
        self.first = 0.0
        self.last = 0.0
        self.sample = b""

    async def deliver(self, request: web.Request) -> web.Response:
        """Count one delivery and answer it."""
        self.sample = await request.read()
        now = time.time()
        webhook_id = request.headers.get("webhook-id", "")
        seen = self.per_id.get(webhook_id, 0)
        self.per_id[webhook_id] = seen + 1
        self.first = self.first or now
        self.last = now
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "429-once" and seen == 0:
            self.hits.append((webhook_id, now, 429))
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        self.hits.append((webhook_id, now, 200))
        return web.Response(body=OK_BODY, content_type="application/json")

    async def stats(self, _request: web.Request) -> web.Response:
        """The counts and the first and last arrival times."""
        counts = self.per_id.values()
        return web.json_response(
            {
                "received": sum(counts),
                "distinct": len(self.per_id),
                "maxPerId": max(counts, default=0),
                "first": self.first,
                "last": self.last,
            }
        )

    async def sample_body(self, _request: web.Request) -> web.Response:
        """The body of the latest delivery, as received."""
        return web.Response(body=self.sample, content_type="application/octet-stream")

    async def log(self, _request: web.Request) -> web.Response:
        """Every delivery in arrival order."""
        return web.json_response({"hits": self.hits})


async def serve(mode: str, retry_after: str, delay: float) -> None:
    """Listen on an ephemeral loopback port, print it, run until killed."""
    counter = Counter(mode, retry_after, delay)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/stats", counter.stats)
    app.router.add_get("/log", counter.log)
    app.router.add_get("/sample", counter.sample_body)
    app.router.add_route("*", "/{tail:.*}", counter.deliver)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["ok", "429-once"], default="ok")
    parser.add_argument("--retry-after", default="2")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each delivery is answered")
    options = parser.parse_args()
    asyncio.run(serve(options.mode, options.retry_after, options.delay))


if __name__ == "__main__":
    main()
