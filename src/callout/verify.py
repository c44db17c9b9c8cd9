"""Verification for target authors: the ``ZITADEL-Signature`` header, and JWT or JWE bodies.

Importable without the server::

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

Targets with the JWT or JWE payload type get a token instead of the JSON bytes (the HMAC header
still covers the body as sent). :func:`verify_jwt` checks a JWT against the instance's JWKS (a dict,
or the URL of callout's ``/oauth/v2/keys``) and returns the JSON payload bytes; :func:`decrypt_jwe`
decrypts a JWE with the target's private key (PEM) and returns the inner JWT; :func:`open_jwe` does
both::

    payload = open_jwe(raw_body, private_key_pem, jwks)   # JWE target
    payload = verify_jwt(raw_body, jwks)                   # JWT target

Fetch the JWKS once (:func:`fetch_jwks`) and pass the dict, rather than the URL on every call.
Token failures raise :class:`TokenError` subclasses (a kind of :class:`SignatureError`). The
signature helpers need the standard library only; the token helpers use joserfc, a dependency of
callout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwe, jws
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, OKPKey, RSAKey

from callout.domain.json_depth import exceeds_json_depth

SIGNATURE_HEADER = "ZITADEL-Signature"
DEFAULT_TOLERANCE = timedelta(seconds=300)

_INT64 = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_INT64_RANGE = range(-(2**63), 2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

DEFAULT_JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric algorithms of web keys; ``none`` and the HMAC ones are never accepted by default."""
JWE_ALGORITHMS = ("RSA-OAEP-256", "ECDH-ES+A256KW", "A256GCM")
"""What callout encrypts with: key management for RSA and EC keys, and the content encryption."""
MAX_JWKS_BYTES = 1024 * 1024
_JWE_REGISTRY = JWERegistry(algorithms=list(JWE_ALGORITHMS))
_JWK_TYPES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


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


class TokenError(SignatureError):
    """A JWT or JWE body is not a valid token from callout; ``reason`` says why."""

    reason = "invalid_token"


class MalformedTokenError(TokenError):
    """The body is not a compact JWS or JWE (or its header is unreadable)."""

    reason = "malformed_token"


class UnknownKeyError(TokenError):
    """The JWKS holds no key with the token's ``kid`` (or the token names none and the JWKS has several)."""

    reason = "unknown_key"


class UnsupportedAlgorithmTokenError(TokenError):
    """The token's algorithm is not among the accepted ones."""

    reason = "unsupported_algorithm"


class InvalidTokenSignatureError(TokenError):
    """The JWT's signature does not match its content under the key."""

    reason = "invalid_token_signature"


class DecryptionError(TokenError):
    """The JWE cannot be decrypted with the private key (wrong key or tampered token)."""

    reason = "decryption_failed"


class JwksUnavailableError(TokenError):
    """The JWKS could not be fetched or is not a JWKS."""

    reason = "jwks_unavailable"


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


def verify_jwt(
    body: bytes | str, jwks: dict[str, Any] | str, *, algorithms: Sequence[str] = DEFAULT_JWT_ALGORITHMS
) -> bytes:
    """Verify a JWT (JWS compact) against a JWKS dict or URL; return its payload, the JSON bytes."""
    token = body.encode("ascii", "replace") if isinstance(body, str) else body
    header = _jws_header(token)
    key = _select_key(fetch_jwks(jwks) if isinstance(jwks, str) else jwks, header.get("kid"))
    try:
        return jws.deserialize_compact(token, key, algorithms=list(algorithms)).payload
    except UnsupportedAlgorithmError as error:
        raise UnsupportedAlgorithmTokenError(f"algorithm {header.get('alg')!r} is not accepted") from error
    except BadSignatureError as error:
        raise InvalidTokenSignatureError("the JWT signature does not verify") from error
    except JoseError as error:
        raise TokenError(f"the JWT is invalid: {error}") from error


def decrypt_jwe(body: bytes | str, private_key_pem: bytes | str, *, password: bytes | None = None) -> bytes:
    """Decrypt a JWE (compact) with an RSA or EC private key in PEM; return the plaintext, the inner JWT."""
    key = _import_private_pem(private_key_pem, password)
    token = body.encode("ascii", "replace") if isinstance(body, str) else body
    if not _is_compact_jwe(token):
        raise MalformedTokenError("the body is not a compact JWE")
    try:
        return jwe.decrypt_compact(token, key, registry=_JWE_REGISTRY).plaintext or b""
    except UnsupportedAlgorithmError as error:
        raise UnsupportedAlgorithmTokenError(f"the JWE uses an algorithm other than {JWE_ALGORITHMS}") from error
    except (JoseError, ValueError) as error:
        raise DecryptionError("the JWE cannot be decrypted with this key") from error


def open_jwe(
    body: bytes | str,
    private_key_pem: bytes | str,
    jwks: dict[str, Any] | str,
    *,
    password: bytes | None = None,
    algorithms: Sequence[str] = DEFAULT_JWT_ALGORITHMS,
) -> bytes:
    """Decrypt a JWE body and verify the JWT inside; return the JSON payload bytes."""
    return verify_jwt(decrypt_jwe(body, private_key_pem, password=password), jwks, algorithms=algorithms)


def fetch_jwks(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """Fetch a JWKS over http(s), e.g. ``https://callout.example/oauth/v2/keys``."""
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            raw = response.read(MAX_JWKS_BYTES + 1)
        document = json.loads(raw) if len(raw) <= MAX_JWKS_BYTES else None
    except (OSError, ValueError) as error:
        raise JwksUnavailableError(f"the JWKS at {url} could not be fetched: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailableError(f"{url} did not answer with a JWKS")
    return document


def _jws_header(token: bytes) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(token).headers())
    except (JoseError, ValueError) as error:
        raise MalformedTokenError("the body is not a compact JWS") from error


def _is_compact_jwe(token: bytes) -> bool:
    parts = token.split(b".")
    if len(parts) != 5:
        return False
    try:
        raw = base64.urlsafe_b64decode(parts[0] + b"=" * (-len(parts[0]) % 4))
        # A header is a flat object: one nested too deep for the parser's stack is no JWE header.
        header = None if exceeds_json_depth(raw) else json.loads(raw)
    except ValueError:
        return False
    return isinstance(header, dict) and "enc" in header


def _select_key(jwks: dict[str, Any], kid: object) -> RSAKey | ECKey | OKPKey:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ValueError("jwks must be a JWKS: a dict with a list of keys")
    candidates = [jwk for jwk in keys if isinstance(jwk, dict) and (kid is None or jwk.get("kid") == kid)]
    if len(candidates) != 1:
        raise UnknownKeyError(f"the JWKS has no single key for kid {kid!r}")
    key_class = _JWK_TYPES.get(str(candidates[0].get("kty")))
    if key_class is None:
        raise UnknownKeyError(f"the key {kid!r} has an unsupported type")
    try:
        return key_class.import_key(candidates[0])
    except (JoseError, ValueError, TypeError) as error:
        raise UnknownKeyError(f"the key {kid!r} in the JWKS is invalid") from error


def _import_private_pem(pem: bytes | str, password: bytes | None) -> RSAKey | ECKey:
    raw = pem.encode("ascii") if isinstance(pem, str) else pem
    private = load_pem_private_key(raw, password)  # ValueError/TypeError: not a (readable) PEM private key
    if isinstance(private, rsa.RSAPrivateKey):
        return RSAKey.import_key(private)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(private)
    raise ValueError("only RSA and EC private keys decrypt callout's JWE bodies")
