"""A tiny FastAPI "users" API whose routes run callout's executions, through ``CalloutMiddleware``.

Its two routes are the methods ``/example.users.v1.UserService/CreateUser`` (``POST /users``) and
``/example.users.v1.UserService/GetUser`` (``GET /users/{user_id}``); the middleware registers them
in callout's catalog at startup, so executions can be bound to them. Configuration: ``CALLOUT_URL``
(default ``http://127.0.0.1:8080``) and ``CALLOUT_TOKEN`` (default: the contents of
``callout-data/admin.pat``). With ``CALLOUT_EMBEDDED=1`` the app runs callout's engine in its own
process instead (``EmbeddedDispatch``) on callout's data: ``CALLOUT_DATA_DIR`` (default
``callout-data``) or ``CALLOUT_DATABASE_URL`` and ``CALLOUT_MASTER_KEY``, as ``callout serve`` reads
them; ``CALLOUT_DEV=true`` lets it call the demo target over plain http, as ``serve --dev`` does.

Try it end to end, from the repository root, in four terminals:

1. Start callout in development mode (it allows plain-http targets on 127.0.0.1)::

       callout serve --dev

2. Start the demo target: a ``rest_call`` target on 127.0.0.1:9000 that title-cases the name of a
   new user and forbids e-mail addresses at ``blocked.test``::

       python examples/asgi_app.py --target

3. Start this app on 127.0.0.1:8000::

       python examples/asgi_app.py        # or: uvicorn examples.asgi_app:app --port 8000

   or with the engine embedded (targets called from this process, no hop through callout)::

       CALLOUT_EMBEDDED=1 CALLOUT_DEV=true python examples/asgi_app.py

4. Create the target, bind it to the request of CreateUser, and create users::

       TOKEN=$(cat callout-data/admin.pat)
       curl -s http://127.0.0.1:8080/v2/actions/targets -H "Authorization: Bearer $TOKEN" \\
         -d '{"name":"users-demo","restCall":{"interruptOnError":true},"timeout":"5s",
              "endpoint":"http://127.0.0.1:9000/hook"}'          # prints {"id":"<TARGET_ID>", ...}
       curl -s -X PUT http://127.0.0.1:8080/v2/actions/executions -H "Authorization: Bearer $TOKEN" \\
         -d '{"condition":{"request":{"method":"/example.users.v1.UserService/CreateUser"}},
              "targets":["<TARGET_ID>"]}'
       curl -s http://127.0.0.1:8000/users -H "Content-Type: application/json" \\
         -d '{"name":"ada lovelace","email":"ada@example.test"}'
       # → {"user":{"id":"1","name":"Ada Lovelace","email":"ada@example.test"}}
       curl -s http://127.0.0.1:8000/users -H "Content-Type: application/json" \\
         -d '{"name":"mallory","email":"m@blocked.test"}'
       # → HTTP 403 {"code":"permission_denied","message":"blocked.test may not sign up"}
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from callout.delivery.dispatch_client import DispatchClient
from callout.embedded import EmbeddedDispatch
from callout.integrations.asgi import ASGIApp, CalloutMiddleware

Client = DispatchClient | EmbeddedDispatch

SERVICE = "example.users.v1.UserService"
TARGET_PORT = 9000


class CreateUserRequest(BaseModel):
    """The body of POST /users."""

    name: str
    email: str = ""


def callout_token() -> str:
    """CALLOUT_TOKEN, else the admin token the first ``callout serve`` wrote, else empty."""
    token = os.environ.get("CALLOUT_TOKEN", "").strip()
    pat = Path(os.environ.get("CALLOUT_DATA_DIR", "callout-data")) / "admin.pat"
    if not token and pat.is_file():
        token = pat.read_text().strip()
    return token


def client_from_environment() -> Client:
    """The embedded engine with ``CALLOUT_EMBEDDED=1``, else a Dispatch client of ``CALLOUT_URL``."""
    if os.environ.get("CALLOUT_EMBEDDED", "") in ("1", "true"):
        return EmbeddedDispatch(callout_token())
    return DispatchClient(os.environ.get("CALLOUT_URL", "http://127.0.0.1:8080"), callout_token())


def users_api(client: Client | None = None) -> FastAPI:
    """The plain users API (an in-memory store); closes the client on shutdown if given."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if client is not None:
            await client.close()

    api = FastAPI(title="users example", lifespan=lifespan)
    users: dict[str, dict[str, str]] = {}

    @api.post("/users")
    async def create_user(body: CreateUserRequest) -> dict[str, Any]:
        user = {"id": str(len(users) + 1), "name": body.name, "email": body.email}
        users[user["id"]] = user
        return {"user": user}

    @api.get("/users/{user_id}")
    async def get_user(user_id: str) -> dict[str, Any]:
        if user_id not in users:
            raise HTTPException(status_code=404, detail="no such user")
        return {"user": users[user_id]}

    return api


def build_app(client: Client) -> ASGIApp:
    """The users API wrapped with the middleware: every route runs its executions through callout."""
    return CalloutMiddleware(users_api(client), client=client, service=SERVICE)


app = build_app(client_from_environment())


class DemoTarget(BaseHTTPRequestHandler):
    """A rest_call target: title-cases the new user's name, forbids e-mail addresses at blocked.test."""

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        request = payload.get("request", {})
        if str(request.get("email", "")).endswith("@blocked.test"):
            answer = {"forwardedStatusCode": 403, "forwardedErrorMessage": "blocked.test may not sign up"}
        else:
            answer = {**request, "name": str(request.get("name", "")).title()}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str]) -> None:
    """Run the demo target (``--target``) or the app on 127.0.0.1:8000."""
    if "--target" in argv:
        print(f"demo target on http://127.0.0.1:{TARGET_PORT}/hook")
        HTTPServer(("127.0.0.1", TARGET_PORT), DemoTarget).serve_forever()
        return
    if not callout_token():
        sys.exit("set CALLOUT_TOKEN or start callout once so that callout-data/admin.pat exists")
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)


if __name__ == "__main__":
    main(sys.argv[1:])
