"""Instances, features and personal access tokens (generation and hashing)."""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from callout.domain.instances import TOKEN_PREFIX, Instance, generate_token, hash_token

URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")


def _instance(features: dict[str, bool]) -> Instance:
    return Instance("i", "name", "o", datetime(2024, 1, 1, tzinfo=UTC), features)


class TestFeatures:
    def test_features_default_to_on(self) -> None:
        """A feature never switched off is enabled."""
        assert _instance({}).feature_enabled("actions")

    def test_switched_off_feature_is_disabled(self) -> None:
        """A feature set to false is disabled."""
        assert not _instance({"actions": False}).feature_enabled("actions")


class TestGenerateToken:
    def test_token_has_the_prefix(self) -> None:
        """Tokens start with the recognisable prefix."""
        assert generate_token().startswith(TOKEN_PREFIX)

    def test_token_carries_256_bits(self) -> None:
        """After the prefix come 43 URL-safe base64 characters (256 bits)."""
        body = generate_token().removeprefix(TOKEN_PREFIX)
        assert len(body) == 43
        assert set(body) <= URLSAFE

    def test_tokens_are_distinct(self) -> None:
        """1000 generated tokens are pairwise distinct."""
        assert len({generate_token() for _ in range(1000)}) == 1000


class TestHashToken:
    def test_hash_is_sha256_hex(self) -> None:
        """The hash is the hex SHA-256 of the token."""
        assert hash_token("co_abc") == hashlib.sha256(b"co_abc").hexdigest()

    @given(st.text(min_size=1))
    def test_hash_is_deterministic(self, token: str) -> None:
        """Hashing the same token twice gives the same value, so lookups work."""
        assert hash_token(token) == hash_token(token)

    @given(st.text(min_size=1), st.text(min_size=1))
    def test_distinct_tokens_have_distinct_hashes(self, first: str, second: str) -> None:
        """Distinct tokens never share a hash."""
        assert (hash_token(first) == hash_token(second)) is (first == second)

    @given(st.text(alphabet=sorted(URLSAFE), min_size=8))
    def test_hash_does_not_contain_the_token(self, body: str) -> None:
        """The stored hash never contains the token itself."""
        token = TOKEN_PREFIX + body
        assert token not in hash_token(token)
