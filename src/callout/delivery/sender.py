"""The Sender seam: one method that sends one outbound request and reports what came back.

Everything else — signing, payload encoding, the egress policy decision, retries — is plain code
above this seam, as in httpx's transport design. Failures that never produced an HTTP response are
``DeliveryError`` subclasses; any HTTP status, 2xx or not, is an ``OutboundResponse``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_MAX_RESPONSE_BYTES = 20 * 1024 * 1024


@dataclass(slots=True)  # not frozen: made on every target call, and a frozen init costs 3x
class OutboundRequest:
    """A POST to a target: URL, exact body bytes, headers, and the time it may take in all."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    timeout_seconds: float


class ResponseHeaders(Mapping[str, str]):
    """A response's headers: names looked up in any case, a repeated header read as its values joined by ", ".

    Names keep the spelling of their first occurrence. The pairs are folded on first use only: most
    answers are read for their status and body alone.
    """

    __slots__ = ("_folded", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = pairs
        self._folded: dict[str, tuple[str, str]] | None = None

    def _fold(self) -> dict[str, tuple[str, str]]:
        if self._folded is None:
            merged: dict[str, tuple[str, list[str]]] = {}
            for name, value in self._pairs:
                merged.setdefault(name.lower(), (name, []))[1].append(value)
            self._folded = {key: (name, ", ".join(values)) for key, (name, values) in merged.items()}
        return self._folded

    def __getitem__(self, name: str) -> str:
        return self._fold()[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fold()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fold().values())

    def __len__(self) -> int:
        return len(self._fold())

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self)!r})"


@dataclass(slots=True)  # not frozen: made on every target call, and a frozen init costs 3x
class OutboundResponse:
    """What a target answered, with the body read up to the response limit."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300


class DeliveryError(Exception):
    """The request produced no usable HTTP response."""

    reason = "error"


class DeliveryTimeout(DeliveryError):
    """The target did not answer within its timeout."""

    reason = "timeout"


class ConnectionFailed(DeliveryError):
    """The connection could not be made or broke (refused, reset, TLS, DNS)."""

    reason = "connection"


class EgressDenied(DeliveryError):
    """The egress policy forbids every address the endpoint resolves to."""

    reason = "egress_denied"


class ResponseTooLarge(DeliveryError):
    """The response body exceeded the limit."""

    reason = "response_too_large"


class Sender(Protocol):
    """Sends outbound requests; implementations never follow redirects."""

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        """Send the request and return the response, or raise a DeliveryError."""
        ...
