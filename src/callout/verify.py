"""Signature verification for target authors: check the ``ZITADEL-Signature`` header of a call.

Standard library only, importable without the server::

    from callout.verify import SignatureError, verify_signature

    try:
        verify_signature(raw_body, request.headers.get("ZITADEL-Signature"), signing_key)
    except SignatureError as exc:
        return 400, exc.reason

The rules are ZITADEL's (``pkg/actions/signing.go``): the header is comma-separated ``k=v`` pairs; a
pair without exactly one ``=`` invalidates the header; ``t`` is the Unix time in seconds; each ``v1``
is a hex HMAC-SHA256 of ``"<t>." + body`` (undecodable ones are skipped); unknown keys are ignored.
A header older than the tolerance (300 s by default) is rejected, a future one is accepted, and the
call is genuine if any ``v1`` matches any of the given keys (several keys: during a key rotation
callout signs with the old and the new key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SIGNATURE_HEADER = "ZITADEL-Signature"
DEFAULT_TOLERANCE = timedelta(seconds=300)

_INT64 = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_INT64_RANGE = range(-(2**63), 2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SignatureError(Exception):
    """The call is not proven to come from callout; ``reason`` says why."""

    reason = "invalid"


class NotSignedError(SignatureError):
    """The signature header is missing or empty."""

    reason = "not_signed"


class InvalidHeaderError(SignatureError):
    """The header is malformed (a pair without exactly one ``=``, or a bad timestamp)."""

    reason = "invalid_header"


class TooOldError(SignatureError):
    """The signed timestamp is older than the tolerance (or absent)."""

    reason = "too_old"


class NoValidSignatureError(SignatureError):
    """No ``v1`` signature matches any of the keys (or the header carries none)."""

    reason = "no_valid_signature"


@dataclass(frozen=True)
class SignatureHeader:
    """A parsed ``ZITADEL-Signature`` header: the timestamp (None if absent) and the decoded MACs."""

    timestamp: int | None
    signatures: tuple[bytes, ...]


def parse_signature_header(header: str | None) -> SignatureHeader:
    """Parse a header with ZITADEL's rules; raises :class:`SignatureError` subclasses."""
    if not header:
        raise NotSignedError("webhook has no ZITADEL-Signature header")
    timestamp: int | None = None
    signatures: list[bytes] = []
    for pair in header.split(","):
        parts = pair.split("=")
        if len(parts) != 2:
            raise InvalidHeaderError("webhook has invalid ZITADEL-Signature header")
        name, value = parts
        if name == "t":
            timestamp = _parse_timestamp(value)
        elif name == "v1" and _HEX.fullmatch(value):
            signatures.append(bytes.fromhex(value))
    if not signatures:
        raise NoValidSignatureError("no valid signature")
    return SignatureHeader(timestamp, tuple(signatures))


def verify_signature(
    body: bytes,
    header: str | None,
    keys: str | Sequence[str],
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> None:
    """Return if ``header`` proves ``body`` was signed with one of ``keys`` recently enough, else raise."""
    candidates = [keys] if isinstance(keys, str) else list(keys)
    if not candidates:
        raise ValueError("at least one signing key is needed")
    parsed = parse_signature_header(header)
    _check_age(parsed.timestamp, tolerance, now)
    if not any(_matches(body, key, parsed) for key in candidates):
        raise NoValidSignatureError("no valid signature")


def expected_signature(body: bytes, key: str, timestamp: int) -> bytes:
    """The raw HMAC-SHA256 of ``"<timestamp>." + body`` under ``key`` (UTF-8)."""
    return hmac.new(key.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).digest()


def _matches(body: bytes, key: str, parsed: SignatureHeader) -> bool:
    assert parsed.timestamp is not None
    expected = expected_signature(body, key, parsed.timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in parsed.signatures)


def _parse_timestamp(value: str) -> int:
    if not _INT64.fullmatch(value) or int(value) not in _INT64_RANGE:
        raise InvalidHeaderError("webhook has invalid ZITADEL-Signature header")
    return int(value)


def _check_age(timestamp: int | None, tolerance: timedelta, now: datetime | None) -> None:
    if timestamp is None:
        raise TooOldError("timestamp wasn't within tolerance (the header carries none)")
    current = now or datetime.now(UTC)
    if current.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    age_us = (current - _EPOCH) // _MICROSECOND - timestamp * 1_000_000
    if age_us > tolerance // _MICROSECOND:
        raise TooOldError("timestamp wasn't within tolerance")
