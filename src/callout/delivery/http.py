"""The one outbound HTTP client: an aiohttp implementation of the Sender seam with the egress policy at connect time.

One ``ClientSession`` per sender (so one per process), POST only, redirects never followed, response
bodies read up to a limit, every failure mapped to a ``DeliveryError`` — no aiohttp exception type
reaches a caller. The session keeps no cookies (a target's ``Set-Cookie`` must never travel to the
next call, possibly of another tenant) and ignores proxy environment variables (a proxy would
connect on our behalf, past the resolver that enforces the policy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import aiohttp
import structlog
import yarl

from callout import __version__
from callout.delivery.deadlines import Deadlines
from callout.delivery.egress import EgressBlocked, PolicyResolver, check_url
from callout.delivery.resolvers import Resolver
from callout.delivery.sender import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ConnectionFailed,
    DeliveryError,
    DeliveryTimeout,
    OutboundRequest,
    OutboundResponse,
    ResponseHeaders,
    ResponseTooLarge,
)
from callout.domain.egress import EgressPolicy

USER_AGENT = f"callout/{__version__}"
CONNECTION_LIMIT = 100
READ_CHUNK_BYTES = 64 * 1024
URL_CACHE_SIZE = 4096
# aiohttp's own timers are off: a Deadlines scope, whose timers are shared between calls, limits each call.
_NO_TIMEOUT = aiohttp.ClientTimeout(total=None)

logger = structlog.get_logger("callout.delivery")


class AiohttpSender:
    """Sends POSTs through one shared aiohttp session, refusing every destination the policy denies.

    ``blocked`` counts the calls the policy refused; ``on_blocked``, if given, is called with the
    refusing rule (``scheme``, ``plain_http``, ``ambiguous_literal``, ``host`` or ``address``) and
    must not raise. The session opens on ``start()`` or the first send; ``close()`` releases it.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        *,
        on_blocked: Callable[[str], None] | None = None,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._max_response_bytes = max_response_bytes
        self._on_blocked = on_blocked
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self.blocked = 0
        self._url_verdicts: dict[str, yarl.URL | EgressBlocked] = {}
        self._deadlines = Deadlines()

    async def start(self) -> None:
        """Open the shared session now rather than on the first send."""
        self._open_session()

    async def close(self) -> None:
        """Close the shared session and its connections; a later send opens a new one."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        """POST the request's exact body and headers; return any HTTP answer, or raise a DeliveryError."""
        # One coroutine for the whole exchange: every await layer is resumed again on each of the
        # event loop's wake-ups during a call, so layers cost more here than their code suggests.
        url = self._checked_url(request.url)
        session = self._session if self._session is not None and not self._session.closed else self._open_session()
        started = time.perf_counter()
        try:
            # The deadline covers connecting, sending and reading the whole body.
            with self._deadlines.within(request.timeout_seconds):
                async with session.post(
                    url, data=request.body, headers=request.headers, allow_redirects=False, timeout=_NO_TIMEOUT
                ) as response:
                    if self._within_limit_as_declared(response):
                        body = await response.read()  # declared, uncompressed and within the limit: the usual case
                    else:
                        body = await self._read_limited(response)
                    headers = ResponseHeaders(response.headers.items())
                    return OutboundResponse(response.status, body, headers, time.perf_counter() - started)
        except EgressBlocked as blocked:  # refused at connect time, on the resolved address
            self._record_blocked(blocked)
            raise
        except DeliveryError:
            raise
        except TimeoutError as exc:
            raise DeliveryTimeout(f"{url.host} did not answer within {request.timeout_seconds:g}s") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ConnectionFailed(f"{url.host}: {_describe(exc)}") from exc

    def _within_limit_as_declared(self, response: aiohttp.ClientResponse) -> bool:
        """Whether the declared length is trustworthy and fits: no encoding that would expand it."""
        declared = response.content_length
        if declared is None or "Content-Encoding" in response.headers:
            return False
        if declared > self._max_response_bytes:
            raise self._too_large(response)
        return True

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the body in chunks, never holding more than the limit plus one chunk."""
        limit = self._max_response_bytes
        if (response.content_length or 0) > limit:
            raise self._too_large(response)
        body = bytearray()
        while chunk := await response.content.read(min(READ_CHUNK_BYTES, limit + 1 - len(body))):
            body += chunk
            if len(body) > limit:
                raise self._too_large(response)
        return bytes(body)

    def _too_large(self, response: aiohttp.ClientResponse) -> ResponseTooLarge:
        response.close()  # drop the connection: the rest of the body is never read
        return ResponseTooLarge(f"the response body exceeds {self._max_response_bytes} bytes")

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=PolicyResolver(self._policy, self._resolver),
                    use_dns_cache=False,  # every new connection asks the policy resolver again
                    limit=self._connection_limit,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                # A default the request's own User-Agent (in any case) replaces: aiohttp merges
                # session and request headers case-insensitively.
                headers={"User-Agent": USER_AGENT},
                trust_env=False,
            )
        return self._session

    def _checked_url(self, raw_url: str) -> yarl.URL:
        # The policy never changes for a sender, so a URL's verdict (not its DNS answer) is cached.
        cached = self._url_verdicts.get(raw_url)
        if cached is None:
            try:
                url = _parse_url(raw_url)
                check_url(self._policy, url)
                cached = url
            except EgressBlocked as verdict:
                cached = verdict
            if len(self._url_verdicts) >= URL_CACHE_SIZE:
                self._url_verdicts.clear()
            self._url_verdicts[raw_url] = cached
        if isinstance(cached, EgressBlocked):
            refusal = EgressBlocked(cached.host, cached.rule, cached.detail)
            self._record_blocked(refusal)
            raise refusal
        return cached

    def _record_blocked(self, blocked: EgressBlocked) -> None:
        self.blocked += 1
        logger.warning("egress.blocked", host=blocked.host, rule=blocked.rule)
        if self._on_blocked is not None:
            self._on_blocked(blocked.rule)


def _parse_url(url: str) -> yarl.URL:
    # The very URL object aiohttp connects with, so the policy judges the host aiohttp will use.
    try:
        return yarl.URL(url)
    except (ValueError, TypeError) as exc:
        raise ConnectionFailed(f"invalid URL: {exc}") from exc


def _describe(exc: BaseException) -> str:
    """A short cause without the URL path or query (they may carry secrets)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host does not resolve"
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return "TLS failure"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the connection broke"
    return type(exc).__name__
