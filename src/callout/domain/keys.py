"""Target public keys for JWE payloads: PEM parsing, fingerprints, expiry rules and list queries.

Only PEM ``PUBLIC KEY`` blocks (PKIX SubjectPublicKeyInfo) holding an RSA key (2048 bits or more) or
an EC key on P-256, P-384 or P-521 are accepted: exactly what the engine can encrypt to.

See docs/behaviour.md, Targets.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from callout.domain.queries import Pagination
from callout.errors import InvalidArgument

MAX_PEM_BYTES = 8192
MIN_RSA_BITS = 2048
SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


@dataclass(frozen=True)
class PublicKey:
    """A public key of a target."""

    key_id: str
    instance_id: str
    target_id: str
    public_key_pem: bytes
    fingerprint: str
    active: bool
    expiration_date: datetime | None
    creation_date: datetime
    change_date: datetime

    def expired_at(self, moment: datetime) -> bool:
        """Tell whether the key has expired by ``moment``."""
        return self.expiration_date is not None and self.expiration_date <= moment


def fingerprint_of(pem: bytes) -> str:
    """Validate a PEM public key and return ``SHA256:`` + unpadded base64 of sha256(DER SPKI)."""
    if not pem or len(pem) > MAX_PEM_BYTES:
        raise _invalid(f"the public key must be 1 to {MAX_PEM_BYTES} bytes of PEM")
    # Exactly one block: a private key appended after the public one would otherwise be stored and
    # listed back to every reader of the target.
    if pem.count(b"-----BEGIN ") != 1 or b"-----BEGIN PUBLIC KEY-----" not in pem:
        raise _invalid("expected exactly one PEM block, of type PUBLIC KEY (PKIX)")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise _invalid("the PEM block is not a readable public key") from error
    _require_supported(key)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def _require_supported(key: object) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise _invalid(f"RSA keys need at least {MIN_RSA_BITS} bits")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, SUPPORTED_CURVES):
            raise _invalid("EC keys must use P-256, P-384 or P-521")
        return
    raise _invalid("only RSA and EC public keys are supported")


def _invalid(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Target.InvalidPublicKey", detail)


def validate_expiration(expiration: datetime | None, now: datetime) -> None:
    """An expiration date, if given, must lie in the future."""
    if expiration is not None and expiration <= now:
        raise InvalidArgument("Errors.Target.InvalidExpirationDate", "the expiration date is in the past")


class PublicKeySortField(enum.IntEnum):
    """Columns ListPublicKeys can sort by; UNSPECIFIED means creation date."""

    UNSPECIFIED = 0
    CREATION_DATE = 1
    CHANGE_DATE = 2
    EXPIRATION_DATE = 3


class TimestampFilterMethod(enum.IntEnum):
    """How a timestamp filter compares, with ZITADEL's enum numbers."""

    EQUALS = 0
    AFTER = 1
    AFTER_OR_EQUALS = 2
    BEFORE = 3
    BEFORE_OR_EQUALS = 4


@dataclass(frozen=True)
class TimestampFilter:
    """Compare the expiration date; AFTER* also match keys that never expire (as in ZITADEL)."""

    timestamp: datetime
    method: TimestampFilterMethod = TimestampFilterMethod.EQUALS


@dataclass(frozen=True)
class PublicKeyQuery:
    """A ListPublicKeys query; filters are ANDed."""

    pagination: Pagination = field(default_factory=Pagination)
    sort: PublicKeySortField = PublicKeySortField.UNSPECIFIED
    key_ids: tuple[tuple[str, ...], ...] = ()
    active: tuple[bool, ...] = ()
    expiration: tuple[TimestampFilter, ...] = ()
