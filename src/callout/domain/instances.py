"""Instances (tenants), their organizations, features and personal access tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from callout.domain.auth import Role

TOKEN_PREFIX = "co_"  # noqa: S105 - a prefix, not a secret
FEATURES = frozenset({"actions"})


@dataclass(frozen=True)
class Instance:
    """A tenant: owns targets, executions, keys and events."""

    id: str
    name: str
    default_org_id: str
    creation_date: datetime
    features: dict[str, bool] = field(default_factory=dict)

    def feature_enabled(self, name: str) -> bool:
        """Tell whether the named feature is on for this instance."""
        return is_feature_enabled(self.features, name)


def is_feature_enabled(features: dict[str, bool], name: str) -> bool:
    """Features are on unless switched off explicitly."""
    return features.get(name, True)


@dataclass(frozen=True)
class TokenRecord:
    """A stored personal access token; the secret itself is kept only as a hash."""

    id: str
    instance_id: str
    org_id: str
    user_id: str
    role: Role
    creation_date: datetime
    revoked: bool = False


def generate_token() -> str:
    """Return a new bearer token: a recognisable prefix and 256 bits from the CSPRNG."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hash a token for storage and lookup; tokens carry enough entropy that SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()
