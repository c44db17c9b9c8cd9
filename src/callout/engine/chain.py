"""Running a chain of targets: in order, each seeing earlier rest_call changes (SPEC §4).

An ``Exchange`` knows what one kind of call sends (request, response, function, event) and what a
``rest_call`` answer does to it. The runner signs and sends, interprets answers, and applies
``interruptOnError``: an interrupting failure stops the chain and raises; any other failure is
logged and leaves the exchange unchanged. ``rest_async`` targets are sent in the background and
never fail the chain.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

from callout.delivery.sender import DeliveryError, OutboundRequest, OutboundResponse, Sender
from callout.domain.clock import Clock
from callout.domain.targets import PayloadType, TargetType
from callout.engine.outcomes import TargetAnswer, delivery_failure, interpret_response
from callout.engine.router import RoutedTarget
from callout.engine.signing import SIGNATURE_HEADER, compute_signature_header, standard_webhook_headers
from callout.errors import CalloutError, FailedPrecondition

log = structlog.get_logger("callout.engine")


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
        # Calls by outcome ("ok" or the error's message id), exported as a Prometheus counter.
        self.outcomes: collections.Counter[str] = collections.Counter()

    async def run(self, chain: Sequence[RoutedTarget], exchange: Exchange) -> None:
        """Call every target in order; raises the error of the first interrupting failure."""
        for routed in chain:
            if routed.target.target_type is TargetType.ASYNC:
                self._fire_and_forget(routed, exchange.body())
                continue
            try:
                answer = await self._call(routed, exchange.body())
                if routed.target.target_type is TargetType.CALL:
                    exchange.apply(answer)
            except CalloutError as error:
                _log_failure(routed, error)
                if routed.target.interrupt_on_error:
                    raise

    async def _call(self, routed: RoutedTarget, body: bytes) -> TargetAnswer:
        try:
            try:
                response = await self.send(routed, body)
            except DeliveryError as error:
                raise delivery_failure(error) from error
            answer = interpret_response(response)
        except CalloutError as failure:
            self.outcomes[failure.message_id] += 1
            raise
        self.outcomes["ok"] += 1
        return answer

    async def send(self, routed: RoutedTarget, body: bytes) -> OutboundResponse:
        """Sign and send one body to one target; raises DeliveryError when nothing came back."""
        _require_supported_payload(routed)
        now = self._clock.now()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: compute_signature_header(body, routed.secrets_at(now), timestamp),
            **standard_webhook_headers(f"msg_{os.urandom(16).hex()}", timestamp),
        }
        request = OutboundRequest(routed.target.endpoint, body, headers, routed.target.timeout.total_seconds())
        started = time.perf_counter()
        response = await self._sender.send(request)
        log.info("target.called", target=routed.target.id, status=response.status, ms=_ms(started))
        return response

    def _fire_and_forget(self, routed: RoutedTarget, body: bytes) -> None:
        task = asyncio.create_task(self._send_async(routed, body))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_async(self, routed: RoutedTarget, body: bytes) -> None:
        try:
            await self._call(routed, body)
        except CalloutError as error:
            _log_failure(routed, error)

    async def drain(self) -> None:
        """Wait for background (rest_async) calls still running, e.g. before shutdown or in tests."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


def _require_supported_payload(routed: RoutedTarget) -> None:
    # JWT and JWE bodies need the instance web keys and target public keys (not built yet); sending
    # them as plain JSON would silently break receivers that expect a token.
    if routed.target.payload_type in (PayloadType.JWT, PayloadType.JWE):
        raise FailedPrecondition(
            "Errors.Execution.PayloadTypeUnsupported", "JWT and JWE payloads are not available yet"
        )


def _log_failure(routed: RoutedTarget, error: CalloutError) -> None:
    log.warning(
        "target.failed",
        target=routed.target.id,
        interrupting=routed.target.interrupt_on_error,
        error=error.message_id,
        detail=error.detail[:200],
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
