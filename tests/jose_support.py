"""Keys for JWT and JWE tests, and jwcrypto (an independent JOSE library) to check what callout makes.

Key generation is slow (RSA), so each kind of key is made once per test session and cached.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, RSAKey
from jwcrypto import jwe as cwe
from jwcrypto import jwk as cwk
from jwcrypto import jws as cws

from callout.engine.router import EncryptionKey, WebKey

CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


@dataclass(frozen=True)
class KeyPair:
    """A target's key pair: the public key as callout stores it, the private key as the target keeps it."""

    key_id: str
    public_pem: bytes
    private_pem: bytes

    def encryption_key(self, **extra: Any) -> EncryptionKey:
        """The public half as the engine gets it."""
        return EncryptionKey(self.key_id, self.public_pem, **extra)


def rsa_pair(key_id: str = "pk-rsa") -> KeyPair:
    """An RSA-2048 key pair (the same one for the same key id)."""
    return _rsa_pair(key_id)


def ec_pair(curve: str = "P-256", key_id: str = "pk-ec") -> KeyPair:
    """An EC key pair on a NIST curve (the same one for the same curve and key id)."""
    return _ec_pair(curve, key_id)


@functools.cache
def ed25519_public_pem() -> bytes:
    """An Ed25519 public key (which cannot encrypt)."""
    return _public_pem(ed25519.Ed25519PrivateKey.generate())


def web_key(algorithm: str = "RS256", key_id: str = "web-1") -> WebKey:
    """An instance web key as the router carries it (the same one for the same algorithm and kid)."""
    return _web_key(algorithm, key_id)


@functools.cache
def _web_key(algorithm: str, key_id: str) -> WebKey:
    parameters = {"kid": key_id, "use": "sig", "alg": algorithm}
    if algorithm.startswith("ES"):
        curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[algorithm]
        key: RSAKey | ECKey = ECKey.generate_key(curve, parameters=parameters)
    else:
        key = RSAKey.generate_key(2048, parameters=parameters)
    return WebKey(key_id, algorithm, dict(key.as_dict(private=True)))


def jwks(*keys: WebKey) -> dict[str, Any]:
    """The public JWKS of web keys, as ``/oauth/v2/keys`` serves it."""
    public = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y")
    return {"keys": [{name: key.private_jwk[name] for name in public if name in key.private_jwk} for key in keys]}


def segments(token: bytes) -> list[bytes]:
    """The base64url-decoded segments of a compact token."""
    return [base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)) for part in token.split(b".")]


def header(token: bytes) -> dict[str, Any]:
    """The protected header of a compact token."""
    value: dict[str, Any] = json.loads(segments(token)[0])
    return value


def jwcrypto_verify(token: bytes, key: WebKey) -> bytes:
    """jwcrypto verifies a JWS with the web key's public JWK; returns the payload."""
    public = cwk.JWK(**jwks(key)["keys"][0])
    signed = cws.JWS()
    signed.deserialize(token.decode("ascii"))
    signed.verify(public, alg=key.algorithm)
    return bytes(signed.payload)


def jwcrypto_decrypt(token: bytes, pair: KeyPair) -> bytes:
    """jwcrypto decrypts a JWE with the target's private key; returns the plaintext."""
    private = cwk.JWK.from_pem(pair.private_pem)
    encrypted = cwe.JWE()
    encrypted.deserialize(token.decode("ascii"), key=private)
    return bytes(encrypted.payload)


def tamper(token: bytes, segment: int) -> bytes:
    """The token with one character of a segment changed (the segment stays valid base64url)."""
    parts = token.split(b".")
    middle = len(parts[segment]) // 2
    flipped = b"A" if parts[segment][middle : middle + 1] != b"A" else b"B"
    parts[segment] = parts[segment][:middle] + flipped + parts[segment][middle + 1 :]
    return b".".join(parts)


@functools.cache
def _rsa_pair(key_id: str) -> KeyPair:
    return _pair(key_id, rsa.generate_private_key(65537, 2048))


@functools.cache
def _ec_pair(curve: str, key_id: str) -> KeyPair:
    return _pair(key_id, ec.generate_private_key(CURVES[curve]()))


def _pair(key_id: str, private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> KeyPair:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(key_id, _public_pem(private), private_pem)


def _public_pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
