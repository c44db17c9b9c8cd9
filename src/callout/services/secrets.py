"""Encryption of secrets at rest (signing keys) with the deployment's master key, AES-256-GCM."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
MASTER_KEY_FILE = "master.key"


class MasterKeyError(ValueError):
    """The master key is malformed or does not decrypt the stored secrets."""


class SecretBox:
    """Encrypts and decrypts short secrets; the ciphertext names its format version."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError("the master key must be 32 bytes (base64-encoded)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str) -> str:
        """Return ``v1:<base64(nonce + ciphertext)>``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _VERSION.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        """Reverse ``encrypt``; a wrong key or tampered value is a MasterKeyError."""
        version, _, body = stored.partition(":")
        if version != _VERSION:
            raise MasterKeyError(f"unknown secret format {version!r}")
        try:
            raw = base64.b64decode(body, validate=True)
            if len(raw) < _NONCE_BYTES + _TAG_BYTES:
                raise MasterKeyError("the stored secret is truncated")
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _VERSION.encode())
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise MasterKeyError("the master key does not decrypt this secret") from error
        return plain.decode()


def decode_master_key(encoded: str) -> bytes:
    """Decode a base64 master key, with a clear error for anything else."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise MasterKeyError("the master key is not valid base64") from error
    if len(key) != 32:
        raise MasterKeyError("the master key must decode to 32 bytes")
    return key


def load_or_create_master_key(data_dir: Path, configured: str | None) -> bytes:
    """Use the configured key, else the one in the data dir, else create one there (mode 0600)."""
    if configured:
        return decode_master_key(configured)
    path = data_dir / MASTER_KEY_FILE
    if path.exists():
        return decode_master_key(path.read_text())
    key = os.urandom(32)
    write_private_file(path, base64.b64encode(key).decode() + "\n")
    return key


def write_private_file(path: Path, content: str) -> None:
    """Create a file readable only by its owner, without a window in which others could read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
