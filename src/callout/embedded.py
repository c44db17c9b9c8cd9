"""The embedded engine: the Dispatch API's Python surface run inside the host application's process.

``EmbeddedDispatch`` answers the same calls as ``DispatchClient`` (run_request, run_response,
run_function, apply_function, register_catalog, push_events, get_routing, the kept routing
snapshot and its stats), so ``CalloutMiddleware(app, client=EmbeddedDispatch(...), service=...)``
works as with the remote client. Instead of a callout URL it takes callout's database URL and master
key, and calls targets itself with the same router, chain runner, signing, egress policy and payloads
as ``callout serve`` (services/dispatch.py is shared with the DispatchService RPCs). rest_async
targets and pushed events are queued in that database, where the workers of ``callout serve`` or
``callout worker`` deliver them. No second network hop (docs/host-middleware.md, Two modes).

The host still names itself with a token, as in remote mode: it decides the instance, the ids targets
see and the permission (``dispatch``). Reading the token costs a database query, more than a target
call on loopback, so what it grants is kept for ``PRINCIPAL_TTL_SECONDS``: revoking the token or
turning the actions feature off stops an embedded host within that time. Every routing poll reads it
afresh, and the routing version it carries follows the newest snapshot, so an execution change applies
to calls as soon as the snapshot shows it. Failures are
``DispatchError`` with the status and code the remote client would report, so the middleware's failure
policy applies unchanged: an unreachable database is ``503 unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

import structlog

from callout.api.dispatch_service import encode_event
from callout.delivery.dispatch_errors import DispatchError
from callout.delivery.routing_watch import RoutingSnapshot, RoutingStats, RoutingWatches
from callout.domain.auth import Permission, Principal
from callout.errors import CalloutError
from callout.services import dispatch, interception
from callout.services import executions as execution_service
from callout.services import push as push_service
from callout.services.auth import authenticate, authorize
from callout.services.context import ServiceContext
from callout.services.push import PushedEvent
from callout.services.runtime import open_context
from callout.settings import Settings

__all__ = ["DispatchError", "EmbeddedDispatch"]

log = structlog.get_logger("callout.embedded")
PRINCIPAL_TTL_SECONDS = 1.0


class EmbeddedDispatch:
    """Runs executions in-process on callout's database; opened on first use, closed by ``close()``."""

    def __init__(
        self,
        token: str,
        *,
        database_url: str | None = None,
        master_key: str | None = None,
        settings: Settings | None = None,
        keep_routing: bool = True,
        routing_wait_seconds: float = 5.0,
    ) -> None:
        """``token`` is a host token with the ``dispatch`` permission, as for DispatchClient.

        ``database_url`` and ``master_key`` are callout's (``CALLOUT_DATABASE_URL``,
        ``CALLOUT_MASTER_KEY``); unset, they come from the environment and the data directory as for
        ``callout serve``. ``settings`` gives every other setting (egress policy, limits) at once.
        """
        self._token = token
        self._settings = settings or _settings(database_url, master_key)
        self._context: ServiceContext | None = None
        self._opening = asyncio.Lock()
        self._principal: tuple[Principal, float] | None = None
        self.stats = RoutingStats()
        self._routing = RoutingWatches(self._poll_routing, self.stats, routing_wait_seconds, keep=keep_routing)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> ServiceContext:
        """Connect to the database, bring its schema up to date and check the master key (once)."""
        async with self._opening:
            if self._context is None:
                with _as_dispatch_errors():
                    self._context = await open_context(self._settings)
            return self._context

    async def close(self) -> None:
        """Stop the routing polls, let started target calls finish, and close the database."""
        await self._routing.stop()
        context, self._context = self._context, None
        if context is not None:
            await context.close()

    def routing(self, service: str) -> RoutingSnapshot | None:
        """The newest snapshot of ``service``'s executions; None until the first one is read (or when not kept)."""
        return self._routing.snapshot(service)

    async def refresh_routing(self) -> None:
        """Read every kept snapshot now: a change this process just made applies to its next request."""
        self._principal = None
        await self._routing.refresh()

    async def get_routing(
        self, services: Iterable[str], version: int | None = None, wait_seconds: float = 0.0
    ) -> dict[str, Any]:
        """GetRouting: the executions concerning ``services``; with ``version``, wait up to ``wait_seconds``
        for a change."""
        context, principal = await self._caller(fresh=True)
        with _as_dispatch_errors():
            answer = await dispatch.routing_answer(context, principal, list(services), version, wait_seconds)
        self._remember(replace(principal, routing_version=int(answer["version"])))
        return answer

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
        context, principal = await self._caller()
        with _as_dispatch_errors():
            return await interception.run_request_execution(
                context,
                dispatch.caller(principal, user_id, org_id),
                dispatch.checked_method(method),
                dict(request),
                dispatch.forwarded(headers),
                dispatch.checked_project(project_id),
            )

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
        context, principal = await self._caller()
        with _as_dispatch_errors():
            return await interception.run_response_execution(
                context,
                dispatch.caller(principal, user_id, org_id),
                dispatch.checked_method(method),
                dict(request),
                dict(response),
                dispatch.forwarded(headers),
                dispatch.checked_project(project_id),
            )

    async def run_function(self, name: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """Run the function execution ``name``; return the merged answers of its targets."""
        answer = await self._function(name, context, None)
        result: dict[str, Any] = answer["result"]
        return result

    async def apply_function(
        self, name: str, context: Mapping[str, Any], claims: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a ZITADEL function and return its answers applied by ZITADEL's rules (see DispatchClient)."""
        answer = await self._function(name, context, None if claims is None else dict(claims))
        applied: dict[str, Any] = answer.get("applied", {})
        return applied

    async def _function(
        self, name: str, function_context: Mapping[str, Any], claims: dict[str, Any] | None
    ) -> dict[str, Any]:
        context, principal = await self._caller()
        with _as_dispatch_errors():
            if not name or len(name) > dispatch.MAX_ID_LENGTH:
                raise dispatch.invalid("name", f"must be 1 to {dispatch.MAX_ID_LENGTH} characters")
            return await dispatch.function_answer(context, principal, name, dict(function_context), claims)

    async def register_catalog(
        self, methods: Iterable[str] = (), functions: Iterable[str] = (), events: Iterable[str] = ()
    ) -> None:
        """Add methods (``/pkg.Service/Method``), functions and event types to the instance's catalog."""
        context, principal = await self._caller()
        with _as_dispatch_errors():
            await execution_service.register_catalog(
                context, principal, methods=list(methods), functions=list(functions), events=list(events)
            )

    async def push_events(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store events of declared types and queue their deliveries; returns them as stored, with their ids."""
        context, principal = await self._caller()
        with _as_dispatch_errors():
            pushed = [_pushed_event(event) for event in events]
            stored = await push_service.push_events(context, principal, pushed)
        return [encode_event(event) for event in stored]

    async def _caller(self, *, fresh: bool = False) -> tuple[ServiceContext, Principal]:
        context = self._context or await self.open()
        kept = self._principal
        if not fresh and kept is not None and time.monotonic() - kept[1] < PRINCIPAL_TTL_SECONDS:
            return context, kept[0]
        with _as_dispatch_errors():
            principal = await authenticate(context, f"Bearer {self._token}")
            authorize(principal, Permission.DISPATCH)
        self._remember(principal)
        return context, principal

    def _remember(self, principal: Principal) -> None:
        kept = self._principal
        # A slower concurrent read must not take back a routing version a newer one already saw.
        if kept is not None and kept[0].routing_version > principal.routing_version:
            principal = replace(principal, routing_version=kept[0].routing_version)
        self._principal = (principal, time.monotonic())


def _settings(database_url: str | None, master_key: str | None) -> Settings:
    given = {"database_url": database_url, "master_key": master_key}
    return Settings.model_validate({name: value for name, value in given.items() if value is not None})


def _pushed_event(event: Mapping[str, Any]) -> PushedEvent:
    payload = event.get("payload", {})
    if not isinstance(payload, dict):
        raise dispatch.invalid("events.payload", "must be a JSON object")
    return PushedEvent(
        aggregate_type=str(event.get("aggregateType") or ""),
        aggregate_id=str(event.get("aggregateId") or ""),
        event_type=str(event.get("eventType") or ""),
        payload=payload,
        creator=str(event.get("creator") or ""),
        idempotency_key=event.get("idempotencyKey") or None,
    )


@contextlib.contextmanager
def _as_dispatch_errors() -> Iterator[None]:
    """callout's errors as the DispatchError the remote client would raise for the same answer."""
    try:
        yield
    except CalloutError as error:
        kind = error.kind
        raise DispatchError(
            kind.http_status, kind.connect_code, error.message, error.message_id, error.detail
        ) from error
    except DispatchError:
        raise
    except Exception as error:  # a bug must not reach the host as anything but callout's internal error
        log.exception("callout.embedded_failed", error_type=type(error).__name__)
        raise DispatchError(500, "internal", "callout's embedded engine failed") from error
