"""Instance web keys: the JWKS and discovery endpoints, rotation with retention, encryption at rest.

JWT payloads are signed with the instance's active web key; receivers verify them against
``GET /oauth/v2/keys``, advertised as ``jwks_uri`` by ``GET /.well-known/openid-configuration``
(SPEC §4). The endpoints are called over HTTP on the in-process app without a token (they need none);
retention is checked with a clock the test controls.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from callout.errors import InvalidArgument, NotFound
from callout.services import instances as admin
from callout.services import webkeys
from callout.services.context import ServiceContext
from callout.storage.schema import web_keys
from tests.conftest import MakeClient, MakePrincipal

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
KEYS_PATH = "/oauth/v2/keys"
DISCOVERY_PATH = "/.well-known/openid-configuration"
UNKNOWN_INSTANCE = "123456789012345678"


@dataclass
class FixedClock:
    """A clock that stands still until the test moves it."""

    moment: datetime

    def now(self) -> datetime:
        """The current (fixed) time."""
        return self.moment


MakeInstance = Callable[[], Awaitable[str]]


@pytest.fixture
def make_instance(context: ServiceContext) -> MakeInstance:
    """Factory: a new instance with its RS256 web key, as ``callout instances create`` makes it."""

    async def make() -> str:
        return (await admin.create_instance(context, f"keys-{secrets.token_hex(3)}")).id

    return make


async def fetch_jwks(client: httpx.AsyncClient, instance_id: str | None = None) -> list[dict[str, Any]]:
    """The keys of the JWKS (of the default instance unless one is named); the call must succeed."""
    params = {"instance": instance_id} if instance_id else None
    response = await client.get(KEYS_PATH, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["keys"])


def kids(keys: list[dict[str, Any]]) -> list[str]:
    """The key ids of a JWKS, in order."""
    return [key["kid"] for key in keys]


async def signing_key(context: ServiceContext, instance_id: str) -> webkeys.WebKey:
    """The instance's active (decrypted) web key."""
    async with context.database.read() as conn:
        key = await webkeys.active_web_key(context, conn, instance_id)
    assert key is not None
    return key


class TestJwks:
    async def test_default_instance_publishes_one_rs256_key(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """The JWKS of a new instance holds one RSA signing key with kid, kty, n, e, alg RS256 and use sig."""
        http = make_client()
        await make_instance()
        (key,) = await fetch_jwks(http)
        assert {"kid", "kty", "n", "e", "alg", "use"} <= set(key)
        assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")

    async def test_published_key_has_no_private_members(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """No key of the JWKS carries d, p, q, dp, dq or qi."""
        http = make_client()
        await make_instance()
        for key in await fetch_jwks(http):
            assert PRIVATE_MEMBERS.isdisjoint(key), key

    async def test_published_key_verifies_what_the_active_key_signs(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """A JWT signed with the instance's active private key verifies against the published JWKS by kid."""
        http = make_client()
        instance_id = await make_instance()
        active = await signing_key(context, instance_id)
        token = jwt.encode({"alg": "RS256", "kid": active.key_id}, {"sub": "x"}, RSAKey.import_key(active.private_jwk))
        keys = await fetch_jwks(http)
        assert jwt.decode(token, KeySet.import_key_set({"keys": keys})).claims == {"sub": "x"}

    async def test_instance_parameter_selects_that_instance(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """``?instance=<id>`` serves that instance's key instead of the default (oldest) instance's."""
        http = make_client()
        default_id, other_id = await make_instance(), await make_instance()
        assert kids(await fetch_jwks(http)) == [(await signing_key(context, default_id)).key_id]
        assert kids(await fetch_jwks(http, other_id)) == [(await signing_key(context, other_id)).key_id]

    async def test_unknown_instance_is_not_found(self, make_client: MakeClient, make_instance: MakeInstance) -> None:
        """An unknown ``?instance=`` is 404 with the REST error body Errors.Instance.NotFound."""
        http = make_client()
        await make_instance()
        response = await http.get(KEYS_PATH, params={"instance": UNKNOWN_INSTANCE})
        assert response.status_code == 404
        body = response.json()
        assert (body["code"], body["details"][0]["id"]) == (5, "Errors.Instance.NotFound")

    async def test_no_instance_yet_is_not_found(self, make_client: MakeClient) -> None:
        """Without any instance there is no default JWKS: 404."""
        http = make_client()
        assert (await http.get(KEYS_PATH)).status_code == 404

    async def test_instance_without_a_key_gets_one_on_first_request(
        self, make_client: MakeClient, make_principal: MakePrincipal, context: ServiceContext
    ) -> None:
        """An instance created without a web key publishes a newly created one, the same on every request."""
        http = make_client()
        principal, _ = await make_principal()
        first = await fetch_jwks(http, principal.instance_id)
        assert len(first) == 1
        assert kids(await fetch_jwks(http, principal.instance_id)) == kids(first)
        assert kids(first) == [(await signing_key(context, principal.instance_id)).key_id]


class TestDiscovery:
    async def test_jwks_uri_points_at_the_keys_endpoint(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """The discovery document names this server as issuer and its /oauth/v2/keys as jwks_uri."""
        http = make_client()
        await make_instance()
        response = await http.get(DISCOVERY_PATH)
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["issuer"] == "http://callout.test"
        assert document["jwks_uri"] == "http://callout.test/oauth/v2/keys"

    async def test_instance_parameter_is_kept_in_jwks_uri(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """Discovery for ``?instance=<id>`` advertises a jwks_uri that serves that instance's key."""
        http = make_client()
        await make_instance()
        other_id = await make_instance()
        document = (await http.get(DISCOVERY_PATH, params={"instance": other_id})).json()
        response = await http.get(document["jwks_uri"])
        assert response.status_code == 200, response.text
        assert kids(response.json()["keys"]) == [(await signing_key(context, other_id)).key_id]

    async def test_unknown_instance_is_not_found(self, make_client: MakeClient, make_instance: MakeInstance) -> None:
        """Discovery for an unknown ``?instance=`` is 404."""
        http = make_client()
        await make_instance()
        response = await http.get(DISCOVERY_PATH, params={"instance": UNKNOWN_INSTANCE})
        assert response.status_code == 404


class TestRotation:
    async def test_new_key_is_listed_first_and_the_old_key_kept(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """After a rotation the JWKS lists the new kid first and the previous one after it."""
        http = make_client()
        instance_id = await make_instance()
        (old,) = kids(await fetch_jwks(http))
        new = await webkeys.rotate_web_key(context, instance_id)
        assert new != old
        assert kids(await fetch_jwks(http)) == [new, old]

    async def test_new_key_becomes_the_signing_key(self, make_instance: MakeInstance, context: ServiceContext) -> None:
        """The kid returned by a rotation is the instance's active signing key."""
        instance_id = await make_instance()
        new = await webkeys.rotate_web_key(context, instance_id)
        assert (await signing_key(context, instance_id)).key_id == new

    async def test_zero_retention_drops_the_old_key(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """A rotation with zero retention leaves only the new key in the JWKS."""
        http = make_client()
        instance_id = await make_instance()
        new = await webkeys.rotate_web_key(context, instance_id, retention=timedelta(0))
        assert kids(await fetch_jwks(http)) == [new]

    async def test_old_key_is_published_until_the_retention_ends(
        self, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """With one hour of retention the old key is published a second before the hour and gone a second after."""
        instance_id = await make_instance()
        clock = FixedClock(datetime.now(UTC))
        clocked = replace(context, clock=clock)
        (old,) = kids((await webkeys.jwks(clocked, instance_id))["keys"])
        new = await webkeys.rotate_web_key(clocked, instance_id, retention=timedelta(hours=1))
        rotated_at = clock.moment
        clock.moment = rotated_at + timedelta(hours=1) - timedelta(seconds=1)
        assert kids((await webkeys.jwks(clocked, instance_id))["keys"]) == [new, old]
        clock.moment = rotated_at + timedelta(hours=1, seconds=1)
        assert kids((await webkeys.jwks(clocked, instance_id))["keys"]) == [new]

    async def test_es256_rotation_publishes_a_p256_key(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """Rotating to ES256 publishes an EC P-256 key with x and y and no d."""
        http = make_client()
        instance_id = await make_instance()
        new = await webkeys.rotate_web_key(context, instance_id, algorithm="ES256")
        key = (await fetch_jwks(http))[0]
        assert (key["kid"], key["kty"], key["crv"], key["alg"], key["use"]) == (new, "EC", "P-256", "ES256", "sig")
        assert {"x", "y"} <= set(key)
        assert "d" not in key

    async def test_rotation_leaves_other_instances_alone(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """Rotating one instance's key does not change another instance's JWKS."""
        http = make_client()
        rotated_id, other_id = await make_instance(), await make_instance()
        before = kids(await fetch_jwks(http, other_id))
        await webkeys.rotate_web_key(context, rotated_id)
        assert kids(await fetch_jwks(http, other_id)) == before

    async def test_unknown_instance_is_not_found(self, context: ServiceContext) -> None:
        """Rotating the key of an unknown instance raises NotFound Errors.Instance.NotFound."""
        with pytest.raises(NotFound) as raised:
            await webkeys.rotate_web_key(context, UNKNOWN_INSTANCE)
        assert raised.value.message_id == "Errors.Instance.NotFound"

    async def test_unsupported_algorithm_changes_nothing(
        self, make_client: MakeClient, make_instance: MakeInstance, context: ServiceContext
    ) -> None:
        """A rotation to an unsupported algorithm is InvalidArgument and keeps the current key active and alone."""
        http = make_client()
        instance_id = await make_instance()
        before = await signing_key(context, instance_id)
        with pytest.raises(InvalidArgument):
            await webkeys.rotate_web_key(context, instance_id, algorithm="HS256")
        assert (await signing_key(context, instance_id)).key_id == before.key_id
        assert kids(await fetch_jwks(http)) == [before.key_id]


class TestStorage:
    async def test_private_jwk_is_stored_encrypted(self, make_instance: MakeInstance, context: ServiceContext) -> None:
        """The stored private JWK does not contain the key's private exponent in clear; the public JWK has none."""
        instance_id = await make_instance()
        await webkeys.rotate_web_key(context, instance_id, algorithm="ES256")
        async with context.database.read() as conn:
            rows = (await conn.execute(sa.select(web_keys).where(web_keys.c.instance_id == instance_id))).all()
        assert len(rows) == 2
        for row in rows:
            private = json.loads(context.secret_box.decrypt(row.private_jwk))
            assert private["d"] not in row.private_jwk
            assert '"d"' not in row.private_jwk
            assert "d" not in row.public_jwk


async def active_key_count(context: ServiceContext, instance_id: str) -> int:
    """How many web keys of the instance are marked active."""
    query = sa.select(sa.func.count()).select_from(web_keys)
    query = query.where(web_keys.c.instance_id == instance_id, web_keys.c.active.is_(True))
    async with context.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def warm_connection_pool(context: ServiceContext, size: int) -> None:
    """Open ``size`` pooled connections at once, so that concurrent work below really overlaps."""

    async def hold() -> None:
        async with context.database.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(size)))


class TestConcurrency:
    async def test_concurrent_first_uses_create_one_active_key(
        self,
        make_principal: MakePrincipal,
        context: ServiceContext,
        database_url: str,
        request: pytest.FixtureRequest,
    ) -> None:
        """Eight simultaneous first uses of an instance without a web key leave it with exactly one active key."""
        principal, _ = await make_principal()
        await warm_connection_pool(context, 8)
        await asyncio.gather(*(webkeys.ensure_web_key(context, principal.instance_id) for _ in range(8)))
        assert await active_key_count(context, principal.instance_id) == 1
