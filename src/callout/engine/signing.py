"""Signing of target calls: the ``ZITADEL-Signature`` HMAC header and the Standard Webhooks headers.

``ZITADEL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>`` with one ``v1=``
per currently valid signing key, in the order given (``pkg/actions/signing.go``). The key is the
signing key string used as raw UTF-8 bytes; the MAC covers the final body (also for JWT/JWE).
Receivers check it with :mod:`callout.verify`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "ZITADEL-Signature"
"""The header name ZITADEL's code sends (Go canonicalises it to ``Zitadel-Signature`` on the wire)."""

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"


def compute_signature(body: bytes, key: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``key``."""
    # hmac.digest is the one-shot C implementation: this runs on every target call.
    return hmac.digest(key.encode("utf-8"), b"%d." % timestamp + body, "sha256").hex()


def compute_signature_header(body: bytes, keys: Sequence[str], timestamp: int) -> str:
    """The ``ZITADEL-Signature`` value: ``t=<timestamp>`` then one ``v1=<mac>`` per key, in order."""
    if isinstance(keys, str):
        raise TypeError("keys must be a sequence of signing keys, not a single string")
    parts = [f"t={timestamp}"]
    parts.extend(f"v1={compute_signature(body, key, timestamp)}" for key in keys)
    return ",".join(parts)


def standard_webhook_headers(webhook_id: str, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks ``webhook-id`` (stable per delivery) and ``webhook-timestamp`` headers."""
    return {WEBHOOK_ID_HEADER: webhook_id, WEBHOOK_TIMESTAMP_HEADER: str(timestamp)}
