"""The router: for a lookup id, the single best-matching execution's targets.

Exact match first, then the longest stored id that is a prefix at a boundary (``/`` for services and
``all``, ``.`` for event groups stored as ``group.*``). Unlike ZITADEL's plain string prefix, the
service id ``request/a.B`` therefore never matches a method of a service ``a.BC``.

See docs/behaviour.md, Executions and conditions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callout.domain.targets import Target


@dataclass(frozen=True)
class SigningKey:
    """A decrypted signing key and when it stops being valid (None: never)."""

    secret: str
    expires_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        """Tell whether the key still signs at ``moment``."""
        return self.expires_at is None or self.expires_at > moment


@dataclass(frozen=True)
class EncryptionKey:
    """A target's active public key for JWE payloads (PEM, PKIX), with its id and expiry."""

    key_id: str
    public_key_pem: bytes
    expires_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        """An expired key is ignored at call time (docs/behaviour.md, Targets)."""
        return self.expires_at is None or self.expires_at > moment


@dataclass(frozen=True)
class WebKey:
    """An instance's active web key for JWT payloads: a private JWK (dict) with its kid and algorithm."""

    key_id: str
    algorithm: str
    private_jwk: dict[str, Any]


@dataclass(frozen=True)
class RoutedTarget:
    """A target as the engine calls it: its settings, its signing keys (newest first), its JWE key."""

    target: Target
    signing_keys: tuple[SigningKey, ...] = ()
    encryption_key: EncryptionKey | None = None

    def secrets_at(self, moment: datetime) -> tuple[str, ...]:
        """The secrets that sign a call made at ``moment``."""
        if self._unexpiring_secrets is not None:
            return self._unexpiring_secrets
        return tuple(key.secret for key in self.signing_keys if key.valid_at(moment))

    @functools.cached_property
    def _unexpiring_secrets(self) -> tuple[str, ...] | None:
        # Without a rotation in its grace period every key always signs: the answer is worked out once.
        if any(key.expires_at is not None for key in self.signing_keys):
            return None
        return tuple(key.secret for key in self.signing_keys)


class Router:
    """An immutable map of execution ids to target chains, with best-match lookup."""

    def __init__(
        self, routes: Mapping[str, Sequence[RoutedTarget]], version: int = 0, web_key: WebKey | None = None
    ) -> None:
        self._routes = {execution_id: tuple(chain) for execution_id, chain in routes.items() if chain}
        self._targets = {routed.target.id: routed for chain in self._routes.values() for routed in chain}
        self.version = version
        self.web_key = web_key

    def target(self, target_id: str) -> RoutedTarget | None:
        """A target bound to any execution of the instance, ready to call; None if it is not bound."""
        return self._targets.get(target_id)

    def best_match(self, lookup_id: str) -> tuple[RoutedTarget, ...]:
        """Return the targets of the most specific execution matching the id; empty if none does."""
        for candidate in candidate_ids(lookup_id):
            chain = self._routes.get(candidate)
            if chain:
                return chain
        return ()

    def chains(self) -> Mapping[str, tuple[RoutedTarget, ...]]:
        """Every execution id with its (non-empty) target chain."""
        return self._routes

    def __len__(self) -> int:
        return len(self._routes)


def candidate_ids(lookup_id: str) -> Iterator[str]:
    """The ids that may match, most specific first: the id itself, then each shorter prefix."""
    yield lookup_id
    kind, _, rest = lookup_id.partition("/")
    if kind == "event":
        parts = rest.split(".")
        for length in range(len(parts) - 1, 0, -1):
            yield f"event/{'.'.join(parts[:length])}.*"
    elif kind in ("request", "response"):
        service = rest.strip("/").split("/")[0]
        if service and rest.strip("/") != service:
            yield f"{kind}/{service}"
    yield kind
