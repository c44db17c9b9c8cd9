"""Instance web keys: the JWKS and discovery endpoints, rotation with retention, encryption at rest.

JWT payloads are signed with the instance's active web key; receivers verify them against
``GET /oauth/v2/keys``, advertised as ``jwks_uri`` by ``GET /.well-known/openid-configuration``
(docs/behaviour.md, Payload types). The endpoints are called over HTTP on the in-process app
without a token (they need none); retention is checked with a clock the test controls.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from callout.api.app import create_app
from callout.errors import InvalidArgument, NotFound
from callout.services import instances as admin
from callout.services import webkeys
from callout.services.context import ServiceContext
from callout.storage import schema
from callout.storage.schema import web_keys
from tests.conftest import MakeClient, MakePrincipal

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
KEYS_PATH = "/oauth/v2/keys"
DISCOVERY_PATH = "/.well-known/openid-configuration"
UNKNOWN_INSTANCE = "123456789012345678"
EXTERNAL_URL = "https://callout.example.com"
HOSTILE_HOSTS = st.one_of(
    st.sampled_from(["evil.example", "evil.example:443", "callout.example.com.evil.example", "[::1]", "a/b?c#d"]),
    st.from_regex(r"[a-z0-9.-]{1,40}(:[0-9]{1,5})?", fullmatch=True),
)
MakeExternalClient = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def make_external_client(context: ServiceContext) -> AsyncIterator[MakeExternalClient]:
    """Factory: an anonymous client of an app configured with the given external URL."""
    clients: list[httpx.AsyncClient] = []

    def make(external_url: str) -> httpx.AsyncClient:
        app = create_app(context, external_url=external_url)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://callout.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def database_snapshot(context: ServiceContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, to show that nothing was written."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    async with context.database.read() as conn:
        for table in schema.metadata.sorted_tables:
            rows = (await conn.execute(sa.select(table))).all()
            snapshot[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return snapshot


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

    async def test_unknown_instance_has_an_empty_key_set(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """An unknown ``?instance=`` gets the answer of an instance without keys: 200 and no keys."""
        http = make_client()
        await make_instance()
        response = await http.get(KEYS_PATH, params={"instance": UNKNOWN_INSTANCE})
        assert (response.status_code, response.json()) == (200, {"keys": []})

    async def test_unknown_and_keyless_instances_answer_alike(
        self, make_client: MakeClient, make_principal: MakePrincipal
    ) -> None:
        """An existing instance without a key and an unknown id get the same status, body and headers."""
        http = make_client()
        principal, _ = await make_principal()
        keyless = await http.get(KEYS_PATH, params={"instance": principal.instance_id})
        unknown = await http.get(KEYS_PATH, params={"instance": UNKNOWN_INSTANCE})
        assert (keyless.status_code, keyless.content) == (unknown.status_code, unknown.content)
        assert keyless.headers["cache-control"] == unknown.headers["cache-control"]

    async def test_no_instance_yet_has_an_empty_key_set(self, make_client: MakeClient) -> None:
        """Without any instance the default JWKS is an empty key set."""
        response = await make_client().get(KEYS_PATH)
        assert (response.status_code, response.json()) == (200, {"keys": []})

    async def test_reading_keys_of_a_keyless_instance_writes_nothing(
        self, make_client: MakeClient, make_principal: MakePrincipal, context: ServiceContext
    ) -> None:
        """Anonymous JWKS reads of an instance without a key create no key and leave every table unchanged."""
        http = make_client()
        principal, _ = await make_principal()
        before = await database_snapshot(context)
        for _ in range(3):
            assert await fetch_jwks(http, principal.instance_id) == []
        assert await database_snapshot(context) == before

    async def test_key_made_by_a_rotation_is_published(
        self, make_client: MakeClient, make_principal: MakePrincipal, context: ServiceContext
    ) -> None:
        """An instance without a key publishes the one ``callout webkeys rotate`` makes."""
        http = make_client()
        principal, _ = await make_principal()
        kid = await webkeys.rotate_web_key(context, principal.instance_id)
        assert kids(await fetch_jwks(http, principal.instance_id)) == [kid]


class TestDiscovery:
    async def test_issuer_without_configuration_is_the_listener_address(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """Without an external URL the issuer is the listener's address and jwks_uri its /oauth/v2/keys."""
        http = make_client()
        await make_instance()
        response = await http.get(DISCOVERY_PATH)
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["issuer"] == "http://callout.test"  # the ASGI transport's server address
        assert document["jwks_uri"] == "http://callout.test/oauth/v2/keys"

    async def test_issuer_is_the_configured_external_url(self, make_external_client: MakeExternalClient) -> None:
        """With an external URL the issuer and jwks_uri are built on it."""
        document = (await make_external_client(EXTERNAL_URL).get(DISCOVERY_PATH)).json()
        assert document == {"issuer": EXTERNAL_URL, "jwks_uri": f"{EXTERNAL_URL}/oauth/v2/keys"}

    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
    @given(host=HOSTILE_HOSTS, proto=st.sampled_from(["https", "http", "ftp", "javascript"]))
    async def test_hostile_host_and_forwarded_headers_are_ignored(
        self, make_external_client: MakeExternalClient, host: str, proto: str
    ) -> None:
        """Whatever Host, X-Forwarded-Host/-Proto and Forwarded say, the document names only the external URL."""
        headers = {"Host": host, "X-Forwarded-Host": host, "X-Forwarded-Proto": proto, "Forwarded": f"host={host}"}
        response = await make_external_client(EXTERNAL_URL).get(DISCOVERY_PATH, headers=headers)
        assert response.json() == {"issuer": EXTERNAL_URL, "jwks_uri": f"{EXTERNAL_URL}/oauth/v2/keys"}

    async def test_hostile_host_does_not_reach_the_default_issuer(self, make_client: MakeClient) -> None:
        """Without an external URL a Host of evil.example still yields the listener's own address."""
        headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        document = (await make_client().get(DISCOVERY_PATH, headers=headers)).json()
        assert "evil" not in json.dumps(document)
        assert document["issuer"] == "http://callout.test"

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

    async def test_instance_parameter_is_url_encoded(self, make_client: MakeClient) -> None:
        """A ``?instance=`` value with URL syntax in it stays inside the query string of jwks_uri."""
        document = (await make_client().get(DISCOVERY_PATH, params={"instance": "1&x=/../#@evil"})).json()
        assert document["jwks_uri"] == "http://callout.test/oauth/v2/keys?instance=1%26x%3D%2F..%2F%23%40evil"

    async def test_unknown_instance_gets_the_same_document_shape(
        self, make_client: MakeClient, make_instance: MakeInstance
    ) -> None:
        """Discovery for an unknown ``?instance=`` answers 200 like any other: it does not reveal which ids exist."""
        http = make_client()
        known = await make_instance()
        for instance in (known, UNKNOWN_INSTANCE):
            response = await http.get(DISCOVERY_PATH, params={"instance": instance})
            assert response.status_code == 200
            assert response.json()["jwks_uri"].endswith(f"?instance={instance}")


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
