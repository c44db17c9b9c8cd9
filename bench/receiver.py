"""A minimal target for the benchmarks: answers every POST on 127.0.0.1:<port> with a small JSON object."""

from __future__ import annotations

import sys

from aiohttp import web

ANSWER = b'{"id":"target-123","name":"benchmark"}'


async def answer(request: web.Request) -> web.Response:
    """Read the body and answer with a fixed JSON object."""
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


def main() -> None:
    """Serve until terminated."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
