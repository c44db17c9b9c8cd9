"""Signing of target calls: the ``ZITADEL-Signature`` HMAC header and the Standard Webhooks headers.

``ZITADEL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>`` with one ``v1=``
per currently valid signing key, in the order given (``pkg/actions/signing.go``). The key is the
signing key string used as raw UTF-8 bytes; the MAC covers the final body (also for JWT/JWE).
Receivers check it with :mod:`callout.verify`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

SIGNATURE_HEADER = "ZITADEL-Signature"
"""The header name ZITADEL's code sends (Go canonicalises it to ``Zitadel-Signature`` on the wire)."""

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"

_BLOCK_SIZE = 64  # SHA-256's block size, the HMAC key length (RFC 2104)
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))
_PAD_CACHE_SIZE = 4096
_pad_states: dict[str, tuple[Any, Any]] = {}
_ID_BYTES = 16
_ID_BATCH = 256  # ids per getrandom call: one system call per id would be a sixth of a call's syscalls
_id_pool: list[str] = []


def new_webhook_id() -> str:
    """A fresh ``webhook-id`` for a call that is not a durable delivery: ``msg_`` and 128 random bits."""
    if not _id_pool:
        digits = os.urandom(_ID_BYTES * _ID_BATCH).hex()
        step = 2 * _ID_BYTES
        _id_pool.extend([f"msg_{digits[start : start + step]}" for start in range(0, len(digits), step)])
    return _id_pool.pop()


def _forget_id_pool() -> None:
    _id_pool.clear()  # a forked child must not hand out its parent's ids


os.register_at_fork(after_in_child=_forget_id_pool)


def compute_signature(body: bytes, key: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``key``."""
    # RFC 2104 from SHA-256 states already fed the padded key: on every target call, copying them is
    # several times cheaper than OpenSSL's one-shot HMAC, which sets up its context afresh each time.
    inner_state, outer_state = _pad_states.get(key) or _key_states(key)
    inner = inner_state.copy()
    inner.update(b"%d." % timestamp)
    inner.update(body)
    outer = outer_state.copy()
    outer.update(inner.digest())
    return str(outer.hexdigest())


def _key_states(key: str) -> tuple[Any, Any]:
    """The SHA-256 states after the inner and outer padded key, made once per key and cached."""
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK_SIZE:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK_SIZE, b"\0")
    states = hashlib.sha256(raw.translate(_INNER_PAD)), hashlib.sha256(raw.translate(_OUTER_PAD))
    if len(_pad_states) >= _PAD_CACHE_SIZE:
        _pad_states.clear()
    _pad_states[key] = states
    return states


def compute_signature_header(body: bytes, keys: Sequence[str], timestamp: int) -> str:
    """The ``ZITADEL-Signature`` value: ``t=<timestamp>`` then one ``v1=<mac>`` per key, in order."""
    if isinstance(keys, str):
        raise TypeError("keys must be a sequence of signing keys, not a single string")
    header = f"t={timestamp}"
    for key in keys:  # a loop, not a generator: usually one key, and this runs on every target call
        header += f",v1={compute_signature(body, key, timestamp)}"
    return header


def standard_webhook_headers(webhook_id: str, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks ``webhook-id`` (stable per delivery) and ``webhook-timestamp`` headers."""
    return {WEBHOOK_ID_HEADER: webhook_id, WEBHOOK_TIMESTAMP_HEADER: str(timestamp)}
