"""An async client of callout's Dispatch service (``callout.v1.DispatchService``, Connect JSON).

See docs/behaviour.md, API surface.

Host applications use it to run the request and response executions of their own methods, to run
function executions and to register catalog entries. It talks to the operator-configured callout
server, not to user targets, so the egress policy does not apply. Every failure is a
``DispatchError``: a non-2xx answer carries callout's Connect error (code, message, message id,
detail); a transport failure is ``503 unavailable``, a timeout ``504 deadline_exceeded``.

A ``503 unavailable`` is retried a few times with jittered exponential back-off, but only when a
repeat cannot do something twice (docs/concurrency.md): RegisterCatalog and pushes whose events all
carry an idempotency key always; other pushes only when callout says it stored nothing or the
connection was never made; executions (which call targets) only when the connection was never made.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp

from callout import __version__
from callout.delivery.dispatch_errors import NOTHING_STORED, DispatchError, Repeat
from callout.delivery.routing_watch import RoutingSnapshot, RoutingStats, RoutingWatches
from callout.tracing import add_headers

__all__ = ["NOTHING_STORED", "DispatchClient", "DispatchError", "Repeat", "RoutingSnapshot", "RoutingStats"]

DISPATCH_SERVICE = "callout.v1.DispatchService"
USER_AGENT = f"callout-dispatch-client/{__version__}"
MAX_ANSWER_BYTES = 20 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
_CODES_BY_STATUS = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "already_exists",
    429: "resource_exhausted",
    501: "unimplemented",
    503: "unavailable",
    504: "deadline_exceeded",
}


class DispatchClient:
    """Calls the Dispatch RPCs over one shared aiohttp session (opened lazily, closed by ``close()``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 10,
        retries: int = 3,
        backoff_seconds: float = 0.1,
        keep_routing: bool = True,
        routing_wait_seconds: float = 5.0,
    ) -> None:
        """``timeout_seconds`` bounds each attempt; ``retries`` repeats follow a failed one (see the module).

        With ``keep_routing`` (the default) ``routing(service)`` keeps a snapshot of the service's
        executions fresh with long polls of ``routing_wait_seconds`` (docs/host-middleware.md).
        """
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_seconds = timeout_seconds
        self._retries = retries
        self._backoff_seconds = backoff_seconds
        self._session: aiohttp.ClientSession | None = None
        self.stats = RoutingStats()
        self._routing = RoutingWatches(self._poll_routing, self.stats, routing_wait_seconds, keep=keep_routing)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the routing polls and close the shared session; a later call opens a new one."""
        await self._routing.stop()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def routing(self, service: str) -> RoutingSnapshot | None:
        """The newest snapshot of ``service``'s executions; None until the first one arrived (or when not kept).

        The first call starts a background long poll in the running event loop.
        """
        return self._routing.snapshot(service)

    async def refresh_routing(self) -> None:
        """Fetch every kept snapshot now: a change this process just made applies to its next request."""
        await self._routing.refresh()

    async def get_routing(
        self, services: Iterable[str], version: int | None = None, wait_seconds: float = 0.0
    ) -> dict[str, Any]:
        """GetRouting: the executions concerning ``services``; with ``version``, wait up to ``wait_seconds``
        for a change."""
        body: dict[str, Any] = {"services": list(services)}
        if version is not None:
            body["version"] = str(version)
            body["wait"] = f"{wait_seconds:.3f}s"
        return await self._call_once("GetRouting", body, self._timeout_seconds + wait_seconds)

    async def _poll_routing(self, service: str, version: int | None, wait_seconds: float) -> dict[str, Any]:
        return await self.get_routing([service], version, wait_seconds)

    async def run_request(
        self,
        method: str,
        request: Mapping[str, Any],
        headers: Mapping[str, Sequence[str]] | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Run the request execution of ``method``; return the (possibly replaced) request."""
        body = {"method": method, "request": dict(request), **_context(headers, user_id, org_id, project_id)}
        return _object_field(await self._call("RunRequestExecution", body, Repeat.IF_NOT_SENT), "request")

    async def run_response(
        self,
        method: str,
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        headers: Mapping[str, Sequence[str]] | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Run the response execution of ``method``; return the (possibly replaced) response."""
        body = {
            "method": method,
            "request": dict(request),
            "response": dict(response),
            **_context(headers, user_id, org_id, project_id),
        }
        return _object_field(await self._call("RunResponseExecution", body, Repeat.IF_NOT_SENT), "response")

    async def run_function(self, name: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """Run the function execution ``name``; return the merged answers of its targets."""
        answer = await self._call("RunFunction", {"name": name, "context": dict(context)}, Repeat.IF_NOT_SENT)
        return _object_field(answer, "result")

    async def apply_function(
        self, name: str, context: Mapping[str, Any], claims: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a ZITADEL function (``preuserinfo``, ``preaccesstoken``, ``presamlresponse``); return its answers
        applied by ZITADEL's rules: ``claims``, ``logs`` and ``metadata``, or ``attributes`` and ``metadata``.

        ``claims`` are the user's claims before the function (default: the context's ``userinfo``).
        """
        body: dict[str, Any] = {"name": name, "context": dict(context)}
        if claims is not None:
            body["claims"] = dict(claims)
        return _object_field(await self._call("RunFunction", body, Repeat.IF_NOT_SENT), "applied")

    async def register_catalog(
        self, methods: Iterable[str] = (), functions: Iterable[str] = (), events: Iterable[str] = ()
    ) -> None:
        """Add methods (``/pkg.Service/Method``), functions and event types to the instance's catalog."""
        body = {"methods": list(methods), "functions": list(functions), "events": list(events)}
        await self._call("RegisterCatalog", body, Repeat.SAFE)

    async def push_events(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Push events of declared types (``aggregateType``, ``aggregateId``, ``eventType``, ``payload``,
        optional ``creator`` and ``idempotencyKey``); returns them as stored, with their ids."""
        pushed = list(events)
        # Without a key on every event a repeat after an unknown outcome could store an event twice.
        keyed = all(isinstance(event, dict) and event.get("idempotencyKey") for event in pushed)
        answer = await self._call("PushEvents", {"events": pushed}, Repeat.SAFE if keyed else Repeat.IF_NOTHING_STORED)
        stored = answer.get("events", [])
        return stored if isinstance(stored, list) else []

    async def _call(self, rpc: str, body: dict[str, Any], repeat: Repeat) -> dict[str, Any]:
        for attempt in range(self._retries + 1):
            try:
                return await self._call_once(rpc, body)
            except DispatchError as error:
                if attempt == self._retries or not error.may_repeat(repeat):
                    raise
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _backoff(self, attempt: int) -> float:
        # Full jitter: many clients of one busy callout spread out instead of returning in step.
        return random.uniform(0, self._backoff_seconds * 2**attempt)  # noqa: S311 - not a secret

    async def _call_once(self, rpc: str, body: dict[str, Any], timeout_seconds: float | None = None) -> dict[str, Any]:
        url = f"{self._base_url}/{DISPATCH_SERVICE}/{rpc}"
        timeout_seconds = timeout_seconds or self._timeout_seconds
        try:
            async with asyncio.timeout(timeout_seconds):
                status, raw = await self._post(url, body)
        except TimeoutError as exc:
            raise DispatchError(
                504, "deadline_exceeded", f"callout did not answer within {timeout_seconds:g}s"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            message = f"callout is unreachable ({type(exc).__name__})"
            raise DispatchError(503, "unavailable", message, sent=False) from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise DispatchError(503, "unavailable", f"callout is unreachable ({type(exc).__name__})") from exc
        if not 200 <= status <= 299:
            raise _error_from_answer(status, raw)
        return _parse_answer(raw)

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        add_headers(headers)  # the trace this call belongs to continues in callout (docs/tracing.md)
        async with self._open_session().post(url, data=json.dumps(body), headers=headers) as response:
            return response.status, await _read_bounded(response)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self._session


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_ANSWER_BYTES:
        raise ValueError("the answer is too large")
    body = bytearray()
    while chunk := await response.content.read(READ_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise ValueError("the answer is too large")
    return bytes(body)


def _context(
    headers: Mapping[str, Sequence[str]] | None, user_id: str | None, org_id: str | None, project_id: str | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"userId": user_id, "orgId": org_id, "projectId": project_id}
    if headers:
        fields["headers"] = {name: list(values) for name, values in headers.items()}
    return {key: value for key, value in fields.items() if value}


def _parse_answer(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw) if raw.strip() else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise DispatchError(502, "internal", "callout's answer is not a JSON object")
    return answer


def _object_field(answer: dict[str, Any], name: str) -> dict[str, Any]:
    value = answer.get(name, {})
    if not isinstance(value, dict):
        raise DispatchError(502, "internal", f"callout's answer has no object {name!r}")
    return value


def _error_from_answer(status: int, raw: bytes) -> DispatchError:
    """Read a Connect error body; anything else (e.g. a proxy's HTML page) keeps just the status."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return DispatchError(status, _CODES_BY_STATUS.get(status, "unknown"), f"callout answered HTTP {status}")
    debug = _first_debug(body.get("details"))
    return DispatchError(
        status,
        str(body.get("code") or _CODES_BY_STATUS.get(status, "unknown")),
        str(body.get("message") or f"callout answered HTTP {status}"),
        str(debug.get("id") or ""),
        str(debug.get("message") or ""),
    )


def _first_debug(details: Any) -> dict[str, Any]:
    if isinstance(details, list) and details and isinstance(details[0], dict):
        debug = details[0].get("debug")
        if isinstance(debug, dict):
            return debug
    return {}
