"""JWT and JWE bodies for targets with those payload types (docs/behaviour.md, Payload types).

* JWT: a JWS compact serialization whose payload is exactly the JSON bytes (no claims added), signed
  with the instance's active web key; protected header ``{"alg", "typ": "JWT", "kid"}``.
* JWE: that JWT encrypted to the target's active public key — RSA → ``RSA-OAEP-256``, EC (P-256,
  P-384, P-521) → ``ECDH-ES+A256KW`` — with ``enc: A256GCM`` and header ``kid`` (the public key id),
  ``typ: JWT``, ``cty: JWT``.

Keys are imported once: :class:`JoseKeys` keeps the prepared :class:`JwtSigner` and
:class:`JweEncrypter` objects in small LRU maps keyed by key id and key material, so a router rebuilt
with the same keys reuses them. joserfc does the JOSE work; RSA-OAEP-256 is not in its default
(recommended) set, so the JWE registry enables exactly the algorithms callout sends.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, RSAKey

from callout.engine.router import EncryptionKey, WebKey
from callout.errors import Internal

RSA_KEY_ALGORITHM = "RSA-OAEP-256"
EC_KEY_ALGORITHM = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION = "A256GCM"
SIGNING_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
"""The web-key algorithms callout signs with (ZITADEL's RSA and ECDSA web keys)."""

JWE_REGISTRY = JWERegistry(algorithms=[RSA_KEY_ALGORITHM, EC_KEY_ALGORITHM, CONTENT_ENCRYPTION])
"""The JWE algorithms callout uses, enabled explicitly (joserfc leaves RSA-OAEP-256 off by default)."""

_EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_Prepared = TypeVar("_Prepared")


class JwtSigner:
    """Signs JSON bytes into a JWT with one web key; build once per key, call :meth:`sign` per call."""

    def __init__(self, web_key: WebKey) -> None:
        if web_key.algorithm not in SIGNING_ALGORITHMS:
            raise Internal("Errors.Execution.InvalidSigningKey", f"unsupported web key algorithm {web_key.algorithm}")
        self.key_id = web_key.key_id
        self.algorithm = web_key.algorithm
        self._key = _import_private_jwk(web_key)
        self._header = {"alg": web_key.algorithm, "typ": "JWT", "kid": web_key.key_id}
        self._algorithms = [web_key.algorithm]
        self.sign(b"{}")  # a key that does not fit its algorithm (e.g. ES256 on P-384) fails here, once

    def sign(self, payload: bytes) -> bytes:
        """The JWS compact serialization whose payload is exactly ``payload``."""
        try:
            token = jws.serialize_compact(self._header, payload, self._key, algorithms=self._algorithms)
        except (JoseError, ValueError, TypeError) as error:
            raise Internal(
                "Errors.Execution.InvalidSigningKey", f"web key {self.key_id} cannot sign: {error}"
            ) from error
        return token.encode("ascii")


class JweEncrypter:
    """Encrypts a JWT to one target public key; build once per key, call :meth:`encrypt` per call."""

    def __init__(self, key: EncryptionKey) -> None:
        self.key_id = key.key_id
        self._key, self.algorithm = _import_public_pem(key)
        self._header = {
            "alg": self.algorithm,
            "enc": CONTENT_ENCRYPTION,
            "kid": key.key_id,
            "typ": "JWT",
            "cty": "JWT",
        }

    def encrypt(self, jwt: bytes) -> bytes:
        """The JWE compact serialization of ``jwt``."""
        return jwe.encrypt_compact(self._header, jwt, self._key, registry=JWE_REGISTRY).encode("ascii")


class JoseKeys:
    """Prepared signers and encrypters, built on first use and reused while the key is unchanged."""

    def __init__(self, size: int = 256) -> None:
        self._signers: _Lru[JwtSigner] = _Lru(size)
        self._encrypters: _Lru[JweEncrypter] = _Lru(size)

    def signer(self, web_key: WebKey) -> JwtSigner:
        """The signer of a web key (the same object for the same kid, algorithm and public key)."""
        identity = (web_key.key_id, web_key.algorithm, *_public_parts(web_key.private_jwk))
        return self._signers.get(identity, lambda: JwtSigner(web_key))

    def encrypter(self, key: EncryptionKey) -> JweEncrypter:
        """The encrypter of a public key (the same object for the same key id and PEM)."""
        return self._encrypters.get((key.key_id, key.public_key_pem), lambda: JweEncrypter(key))


class _Lru(Generic[_Prepared]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, _Prepared] = OrderedDict()

    def get(self, identity: Hashable, build: Callable[[], _Prepared]) -> _Prepared:
        item = self._items.get(identity)
        if item is not None:
            self._items.move_to_end(identity)
            return item
        item = self._items[identity] = build()
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return item


def _public_parts(jwk: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(jwk.get(name) for name in ("kty", "crv", "n", "e", "x", "y"))


def _import_private_jwk(web_key: WebKey) -> RSAKey | ECKey:
    key_type = web_key.private_jwk.get("kty")
    try:
        if key_type == "RSA":
            return RSAKey.import_key(dict(web_key.private_jwk))
        if key_type == "EC":
            return ECKey.import_key(dict(web_key.private_jwk))
    except (JoseError, ValueError, TypeError) as error:
        raise Internal("Errors.Execution.InvalidSigningKey", f"the web key cannot be used: {error}") from error
    raise Internal("Errors.Execution.InvalidSigningKey", f"unsupported web key type {key_type!r}")


def _import_public_pem(key: EncryptionKey) -> tuple[RSAKey | ECKey, str]:
    try:
        public = load_pem_public_key(key.public_key_pem)
    except (ValueError, TypeError) as error:
        raise _invalid_encryption_key(key, "it is not a PEM public key") from error
    if isinstance(public, rsa.RSAPublicKey):
        return RSAKey.import_key(public), RSA_KEY_ALGORITHM
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _EC_CURVES:
        return ECKey.import_key(public), EC_KEY_ALGORITHM
    raise _invalid_encryption_key(key, "only RSA and EC (P-256, P-384, P-521) keys encrypt")


def _invalid_encryption_key(key: EncryptionKey, why: str) -> Internal:
    return Internal("Errors.Execution.InvalidEncryptionKey", f"public key {key.key_id} cannot be used: {why}")
