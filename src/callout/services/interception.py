"""Running executions around calls: request, response and function executions.

Used for callout's own RPCs and, through the Dispatch service, for host applications' methods and
functions. Calls with a SYSTEM token skip executions so that a broken target can never lock the
operator out (ZITADEL issue #8205).

See docs/behaviour.md, Calling targets; Where executions run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callout import tracing
from callout.domain.auth import Principal
from callout.domain.deliveries import NewDelivery
from callout.domain.executions import ConditionType, function_lookup_id, request_lookup_id
from callout.domain.ids import new_id
from callout.domain.messages import MessageMismatch, MessageShape, check_message
from callout.engine import functions, payloads
from callout.engine.chain import EnqueueAsync
from callout.engine.outcomes import TargetAnswer, json_object
from callout.engine.router import RoutedTarget, WebKey
from callout.errors import FailedPrecondition
from callout.services.context import ServiceContext
from callout.storage import deliveries as delivery_store
from callout.storage.database import Connection

Headers = Mapping[str, Sequence[str]]


@dataclass
class RequestExchange:
    """A request execution: targets see the request, a rest_call answer replaces it."""

    principal: Principal
    full_method: str
    headers: Headers
    request: dict[str, Any]
    project_id: str = ""
    shape: MessageShape | None = None

    def body(self) -> bytes:
        """The request payload."""
        p = self.principal
        return payloads.request_payload(
            self.full_method, p.instance_id, p.org_id, self.project_id, p.user_id, self.request, self.headers
        )

    def apply(self, answer: TargetAnswer) -> None:
        """The bare replacement request, which must fit the request message when callout knows it."""
        self.request = fitting(json_object(answer), self.shape)


@dataclass
class ResponseExchange:
    """A response execution: targets see request and response, a rest_call answer replaces the response."""

    principal: Principal
    full_method: str
    headers: Headers
    request: dict[str, Any]
    response: dict[str, Any]
    project_id: str = ""
    shape: MessageShape | None = None

    def body(self) -> bytes:
        """The response payload."""
        p = self.principal
        return payloads.response_payload(
            self.full_method,
            p.instance_id,
            p.org_id,
            self.project_id,
            p.user_id,
            self.request,
            self.response,
            self.headers,
        )

    def apply(self, answer: TargetAnswer) -> None:
        """The bare replacement response, which must fit the response message when callout knows it."""
        self.response = fitting(json_object(answer), self.shape)


def fitting(message: dict[str, Any], shape: MessageShape | None) -> dict[str, Any]:
    """The message, if protojson would read it into ``shape`` (ZITADEL decodes answers so); else a failure.

    An unknown field or a mistyped one fails the target like unreadable JSON does, so that an
    interrupting target with a typo fails the call instead of being half applied (docs/differences.md).
    """
    if shape is not None:
        try:
            check_message(message, shape)
        except MessageMismatch as mismatch:
            detail = f"the target's answer does not fit {shape.name}: {mismatch}"
            raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", detail) from None
    return message


@dataclass
class FunctionExchange:
    """A function execution: every target sees the context; rest_call answers are merged in chain order.

    Once a ``rest_call`` has answered (even ``null`` or ``{}``), later targets also get the answers
    merged so far as ``response``, as ZITADEL keeps them in the function's context
    (internal/api/oidc/userinfo.go, internal/api/saml/storage.go; docs/functions.md).
    """

    name: str
    context: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    answered: bool = False

    def body(self) -> bytes:
        """The function payload, with ``response`` once an answer was taken."""
        response = self.result if self.answered else None
        return payloads.function_payload(self.name, self.context, response=response)

    def apply(self, answer: TargetAnswer) -> None:
        """Merge the answer now, so that a malformed one fails its own target; ``null`` merges nothing."""
        if not answer.is_json:
            json_object(answer)  # raises ResponseIsNotValidJSON
        self.result = functions.merge_function_answer(self.name, self.result, answer.value)
        self.answered = True

    def merged(self) -> dict[str, Any]:
        """All answers merged by the function's rules."""
        return self.result


def forwarded_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The incoming headers targets may see (Content-Type, X-Forwarded-*, Host, Origin)."""
    return payloads.filter_forwarded_headers(pairs)


@dataclass(frozen=True)
class _Route:
    """The targets of the best-matching execution and the instance's web key (for JWT/JWE bodies)."""

    lookup_id: str
    chain: tuple[RoutedTarget, ...] = ()
    web_key: WebKey | None = None


async def _route(context: ServiceContext, principal: Principal, lookup_id: str) -> _Route:
    if principal.is_system:
        return _Route(lookup_id)
    router = await context.routers.router_for(principal.instance_id, principal.routing_version)
    return _Route(lookup_id, router.best_match(lookup_id), router.web_key)


async def run_request_execution(
    context: ServiceContext,
    principal: Principal,
    full_method: str,
    request: dict[str, Any],
    headers: Headers,
    project_id: str = "",
    *,
    shape: MessageShape | None = None,
) -> dict[str, Any]:
    """Run the request execution of a method; returns the (possibly replaced) request.

    ``shape`` is the request message, when known: a replacement must fit it.
    """
    route = await _route(context, principal, request_lookup_id(ConditionType.REQUEST, full_method))
    if not route.chain:
        return request
    exchange = RequestExchange(principal, full_method, headers, request, project_id, shape)
    await context.chains.run(
        route.chain, exchange, route.web_key, _enqueuer(context, principal, route.lookup_id), route.lookup_id
    )
    return exchange.request


async def run_response_execution(
    context: ServiceContext,
    principal: Principal,
    full_method: str,
    request: dict[str, Any],
    response: dict[str, Any],
    headers: Headers,
    project_id: str = "",
    *,
    private_fields: Collection[str] = (),
    shape: MessageShape | None = None,
) -> dict[str, Any]:
    """Run the response execution of a method; returns the (possibly replaced) response.

    ``shape`` is the response message, when known: a replacement must fit it.

    ``private_fields`` are top-level response fields holding secrets: targets get the response
    without them, and the response returned carries the handler's values of them, whatever the
    targets answered (docs/target-answers.md).
    """
    route = await _route(context, principal, request_lookup_id(ConditionType.RESPONSE, full_method))
    if not route.chain:
        return response
    shown = _without(response, private_fields)
    exchange = ResponseExchange(principal, full_method, headers, request, shown, project_id, shape)
    await context.chains.run(
        route.chain, exchange, route.web_key, _enqueuer(context, principal, route.lookup_id), route.lookup_id
    )
    if not private_fields:
        return exchange.response
    kept = {name: response[name] for name in private_fields if name in response}
    return _without(exchange.response, private_fields) | kept


def _without(message: dict[str, Any], fields: Collection[str]) -> dict[str, Any]:
    if not any(name in message for name in fields):
        return message
    return {name: value for name, value in message.items() if name not in fields}


async def run_function(
    context: ServiceContext, principal: Principal, name: str, function_context: dict[str, Any]
) -> dict[str, Any]:
    """Run a function execution; returns the merged answers (empty without targets)."""
    route = await _route(context, principal, function_lookup_id(name))
    exchange = FunctionExchange(name, function_context)
    if route.chain:
        await context.chains.run(
            route.chain, exchange, route.web_key, _enqueuer(context, principal, route.lookup_id), route.lookup_id
        )
    return exchange.merged()


def _enqueuer(context: ServiceContext, principal: Principal, execution_id: str) -> EnqueueAsync:
    """Queue rest_async calls durably instead of firing and forgetting them.

    See docs/behaviour.md, Events and async delivery, and docs/differences.md.
    """

    async def enqueue(routed: RoutedTarget, body: bytes) -> None:
        delivery = NewDelivery(
            new_id(), principal.instance_id, routed.target.id, execution_id, body, trace=tracing.current()
        )

        async def insert(conn: Connection) -> None:
            await delivery_store.enqueue(conn, [delivery], context.clock.now())

        await context.database.write(insert)

    return enqueue
