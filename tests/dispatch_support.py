"""Helpers of the Dispatch tests: an in-process callout on a real loopback port, its admin API, a host app.

``serve_on_loopback`` runs any ASGI app (an in-process callout) under uvicorn on 127.0.0.1 and an
ephemeral port, so ``DispatchClient`` talks real HTTP to it. ``Actions`` creates targets and sets
executions over HTTP. ``host_app`` is a small FastAPI app with the route kinds the middleware treats
differently (JSON, plain text, raw bytes, a streamed JSON body, JSON with NaN, an error, docs, a mounted
app).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.delivery_receivers import Receiver

ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"


def unique_service(label: str = "users") -> str:
    """A service name no other test uses, so executions of different tests never meet."""
    return f"test{secrets.token_hex(4)}.{label}.v1.UserService"


@asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    config.timeout_graceful_shutdown = 1
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Actions:
    """The ActionService of a callout, over HTTP with an owner's token."""

    http: httpx.AsyncClient

    async def rpc(self, name: str, body: dict[str, Any]) -> httpx.Response:
        """Call an ActionService v2 RPC over Connect."""
        return await self.http.post(f"{ACTION}/{name}", json=body)

    async def target(self, receiver: Receiver, *, interrupt: bool = True, target_timeout: str = "5s") -> str:
        """Create a rest_call target pointing at the receiver; return its id."""
        body = {
            "name": f"t-{secrets.token_hex(5)}",
            "restCall": {"interruptOnError": interrupt},
            "timeout": target_timeout,
            "endpoint": receiver.url(),
        }
        response = await self.rpc("CreateTarget", body)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    async def bind(self, condition: dict[str, Any], targets: list[str]) -> None:
        """Set an execution."""
        response = await self.rpc("SetExecution", {"condition": condition, "targets": targets})
        assert response.status_code == 200, response.text

    async def listed(self, rpc: str, key: str) -> list[str]:
        """What a ListExecution* RPC lists under ``key``."""
        response = await self.rpc(rpc, {})
        assert response.status_code == 200, response.text
        return list(response.json().get(key, []))


def actions_client(base_url: str, token: str) -> Actions:
    """An Actions helper on a callout at ``base_url`` (no proxies)."""
    headers = {"Authorization": f"Bearer {token}"}
    return Actions(httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False, timeout=10.0))


async def _create_user(request: Request) -> dict[str, Any]:
    raw = await request.body()
    return {
        "user": json.loads(raw) if raw else {},
        "contentLength": request.headers.get("content-length", ""),
        "contentType": request.headers.get("content-type", ""),
    }


async def _get_user(user_id: str) -> dict[str, Any]:
    if user_id == "missing":
        raise HTTPException(status_code=404, detail="no such user")
    return {"user": {"id": user_id}}


async def _say_text() -> PlainTextResponse:
    return PlainTextResponse("hello")


async def _echo_bytes(request: Request) -> Response:
    return Response(await request.body(), media_type=request.headers.get("content-type", "text/plain"))


async def _stream_user() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user":'
        yield b'{"id":"streamed"}}'

    return StreamingResponse(chunks(), media_type="application/json")


async def _get_ratio() -> Response:
    # Python's json module writes NaN, which is not JSON: callout cannot carry this answer.
    return Response(json.dumps({"ratio": float("nan")}), media_type="application/json")


async def _ping_admin(_request: Request) -> JSONResponse:
    return JSONResponse({"pong": True})


def host_app() -> FastAPI:
    """A host application with one route of each kind the middleware treats differently."""
    app = FastAPI()
    app.add_api_route("/users", _create_user, methods=["POST"], name="create_user")
    app.add_api_route("/users/{user_id}", _get_user, methods=["GET"], name="get_user")
    app.add_api_route("/text", _say_text, methods=["GET"], name="say_text")
    app.add_api_route("/echo", _echo_bytes, methods=["POST"], name="echo_bytes")
    app.add_api_route("/stream", _stream_user, methods=["GET"], name="stream_user")
    app.add_api_route("/ratio", _get_ratio, methods=["GET"], name="get_ratio")
    app.mount("/admin", Starlette(routes=[Route("/ping", _ping_admin, methods=["POST"], name="ping_admin")]))
    return app


async def run_lifespan(app: Any) -> list[str]:
    """Drive an app through lifespan startup and shutdown; return the message types it sent."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent
