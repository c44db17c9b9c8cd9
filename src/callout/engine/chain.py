"""Running a chain of targets: in order, each seeing earlier rest_call changes (docs/behaviour.md, Calling targets).

An ``Exchange`` knows what one kind of call sends (request, response, function, event) and what a
``rest_call`` answer does to it. The runner signs and sends, interprets answers, and applies
``interruptOnError``: an interrupting failure stops the chain and raises; any other failure is
logged and leaves the exchange unchanged. An empty answer is no answer: it changes nothing.
``rest_async`` targets are sent in the background and never fail the chain.

Bodies follow the target's payload type (docs/behaviour.md, Payload types): JSON as is; JWT signed
with the instance's web key passed to :meth:`ChainRunner.run`; JWE that JWT encrypted to the
target's active public key. Without a web key a JWT/JWE target fails with FailedPrecondition
``Errors.Execution.MissingSigningKey``, without a public key valid at call time a JWE target with
FailedPrecondition ``Errors.Execution.MissingEncryptionKey`` (ZITADEL says Internal; a target's
state never makes callout answer 500, docs/target-answers.md). Both are failures of that target:
they stop the chain only if it interrupts on error. The ``ZITADEL-Signature`` HMAC covers the final
body.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from callout.delivery.sender import DeliveryError, OutboundRequest, OutboundResponse, Sender
from callout.domain.clock import Clock
from callout.domain.targets import PayloadType, TargetType
from callout.domain.trace_context import TraceContext
from callout.engine.jose import JoseKeys
from callout.engine.outcomes import TargetAnswer, delivery_failure, interpret_response
from callout.engine.router import RoutedTarget, WebKey
from callout.engine.signing import (
    SIGNATURE_HEADER,
    compute_signature_header,
    new_webhook_id,
    standard_webhook_headers,
)
from callout.errors import CalloutError, FailedPrecondition
from callout.logs import info_enabled
from callout.tracing import TRACING, add_headers

log = structlog.get_logger("callout.engine")
EnqueueAsync = Callable[[RoutedTarget, bytes], Awaitable[None]]


class Exchange(Protocol):
    """The payload of one chain run and what rest_call answers do to it."""

    def body(self) -> bytes:
        """The JSON bytes to send to the next target."""
        ...

    def apply(self, answer: TargetAnswer) -> None:
        """Take a successful rest_call answer into account; raise CalloutError if it is unusable."""
        ...


class ChainRunner:
    """Calls targets through a Sender; one per process, shared by every chain."""

    def __init__(self, sender: Sender, clock: Clock) -> None:
        self._sender = sender
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()
        self.jose = JoseKeys()
        # Calls by outcome ("ok" or the error's message id), exported as a Prometheus counter.
        self.outcomes: collections.Counter[str] = collections.Counter()

    async def run(
        self,
        chain: Sequence[RoutedTarget],
        exchange: Exchange,
        web_key: WebKey | None = None,
        enqueue_async: EnqueueAsync | None = None,
        execution_id: str = "",
    ) -> None:
        """Call every target in order; raises the error of the first interrupting failure.

        ``web_key`` is the instance's active web key, which signs the bodies of JWT and JWE targets.
        ``rest_async`` targets go to ``enqueue_async`` (the durable queue) when given, else they are
        sent in the background. ``execution_id`` (e.g. ``request/pkg.Service/Method``) names the
        chain's span when tracing is on.
        """
        otel = TRACING.otel
        # Tracing off: no span and no extra await layer, the sender is still awaited from here.
        span = None if otel is None else otel.chain(execution_id, len(chain))
        call = self._call if otel is None else self._traced_call
        failure: str | None = None
        try:
            for routed in chain:
                if routed.target.target_type is TargetType.ASYNC:
                    await self._hand_off(routed, exchange.body(), web_key, enqueue_async)
                    continue
                try:
                    answer = await call(routed, exchange.body(), web_key)
                    # is_json first: a JSON answer is never empty, and this skips a property call per target.
                    if routed.target.target_type is TargetType.CALL and (answer.is_json or not answer.is_empty):
                        exchange.apply(answer)
                except CalloutError as error:
                    _log_failure(routed, error)
                    if routed.target.interrupt_on_error:
                        failure = error.message_id
                        raise
        finally:
            if span is not None:
                span.end(failure)

    async def _traced_call(self, routed: RoutedTarget, body: bytes, web_key: WebKey | None) -> TargetAnswer:
        assert TRACING.otel is not None  # only chosen while tracing is on
        target = routed.target
        span = TRACING.otel.target_call(target.id, target.target_type.name.lower(), target.endpoint)
        failure: str | None = None
        try:
            return await self._call(routed, body, web_key)
        except CalloutError as error:
            failure = error.message_id
            raise
        finally:
            span.end(failure)

    async def _call(self, routed: RoutedTarget, body: bytes, web_key: WebKey | None) -> TargetAnswer:
        # The sender is awaited here directly, not through send(): each await layer is resumed on every
        # wake-up of the event loop during the call, and this is the path of every synchronous target.
        try:
            request = self.prepare(routed, body, web_key)
            try:
                response = await self._sender.send(request)
            except DeliveryError as error:
                raise delivery_failure(error) from error
            _log_call(routed, response)
            answer = interpret_response(response)
        except CalloutError as failure:
            self.outcomes[failure.message_id] += 1
            raise
        self.outcomes["ok"] += 1
        return answer

    async def send(
        self,
        routed: RoutedTarget,
        body: bytes,
        web_key: WebKey | None = None,
        *,
        webhook_id: str | None = None,
        trace: TraceContext | None = None,
    ) -> OutboundResponse:
        """Encode, sign and send one JSON body to one target.

        ``webhook_id`` is the stable id of a durable delivery (a fresh one per call by default), and
        ``trace`` the trace context stored with it. Raises CalloutError when the body cannot be made
        (a missing key) and DeliveryError when nothing came back.
        """
        otel = TRACING.otel
        target = routed.target
        # Off: no span, and the sender is awaited directly. On, the span is current while the request
        # is prepared, so that its traceparent names it.
        span = None if otel is None else otel.target_call(target.id, target.target_type.name.lower(), target.endpoint)
        failure: str | None = None
        try:
            response = await self._sender.send(self.prepare(routed, body, web_key, webhook_id, trace))
            _log_call(routed, response)
        except (CalloutError, DeliveryError) as error:
            failure = error.message_id if isinstance(error, CalloutError) else error.reason
            raise
        finally:
            if span is not None:
                span.end(failure)
        return response

    def prepare(
        self,
        routed: RoutedTarget,
        body: bytes,
        web_key: WebKey | None = None,
        webhook_id: str | None = None,
        trace: TraceContext | None = None,
    ) -> OutboundRequest:
        """The signed request for one JSON body to one target; raises CalloutError when a key is missing.

        The trace context goes in headers only: the body and its signature are the same with or without it.
        """
        now = self._clock.now()
        body = self.encode(routed, body, web_key, now)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: compute_signature_header(body, routed.secrets_at(now), timestamp),
            **standard_webhook_headers(webhook_id or new_webhook_id(), timestamp),
        }
        add_headers(headers, trace)
        return OutboundRequest(routed.target.endpoint, body, headers, routed.target.timeout.total_seconds())

    def encode(self, routed: RoutedTarget, body: bytes, web_key: WebKey | None, now: datetime) -> bytes:
        """The body the target gets at ``now``: the JSON bytes, or the JWT or JWE made of them."""
        payload_type = routed.target.payload_type
        if payload_type not in (PayloadType.JWT, PayloadType.JWE):
            return body
        encryption_key = routed.encryption_key
        if payload_type is PayloadType.JWE and (encryption_key is None or not encryption_key.valid_at(now)):
            raise FailedPrecondition("Errors.Execution.MissingEncryptionKey", "the target has no active public key")
        if web_key is None:
            raise FailedPrecondition("Errors.Execution.MissingSigningKey", "the instance has no active web key")
        jwt = self.jose.signer(web_key).sign(body)
        if encryption_key is None or payload_type is PayloadType.JWT:
            return jwt
        return self.jose.encrypter(encryption_key).encrypt(jwt)

    async def _hand_off(
        self, routed: RoutedTarget, body: bytes, web_key: WebKey | None, enqueue_async: EnqueueAsync | None
    ) -> None:
        if enqueue_async is None:
            self._fire_and_forget(routed, body, web_key)
            return
        try:
            await enqueue_async(routed, body)
        except CalloutError as error:  # an async target never fails the call
            _log_failure(routed, error)

    def _fire_and_forget(self, routed: RoutedTarget, body: bytes, web_key: WebKey | None) -> None:
        task = asyncio.create_task(self._send_async(routed, body, web_key))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_async(self, routed: RoutedTarget, body: bytes, web_key: WebKey | None) -> None:
        try:
            await self._call(routed, body, web_key)
        except CalloutError as error:
            _log_failure(routed, error)

    async def drain(self) -> None:
        """Wait for background (rest_async) calls still running, e.g. before shutdown or in tests."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


def _log_failure(routed: RoutedTarget, error: CalloutError) -> None:
    log.warning(
        "target.failed",
        target=routed.target.id,
        interrupting=routed.target.interrupt_on_error,
        error=error.message_id,
        detail=error.detail[:200],
    )


def _log_call(routed: RoutedTarget, response: OutboundResponse) -> None:
    if TRACING.otel is not None:
        TRACING.otel.record_status(response.status)
    if info_enabled():
        log.info("target.called", target=routed.target.id, status=response.status, ms=_ms(response))


def _ms(response: OutboundResponse) -> float:
    return round(response.latency_seconds * 1000, 2)
