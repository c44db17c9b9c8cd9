"""Instance web keys: the key pairs JWT payloads are signed with, and the public JWKS.

Each instance has one active key (RSA-2048/RS256 by default, or ES256), its private JWK encrypted at
rest. A rotation makes a new key active and keeps the previous public keys in the JWKS for a
retention period, so receivers that cached the JWKS keep verifying.

See docs/behaviour.md, Payload types.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from joserfc.jwk import ECKey, KeyParameters, RSAKey

from callout.domain.ids import new_id
from callout.engine.router import WebKey
from callout.errors import InvalidArgument, NotFound
from callout.services.context import ServiceContext
from callout.services.sealing import seal, unseal
from callout.storage import instances as instance_store
from callout.storage import keys as store
from callout.storage.database import Connection

ALGORITHMS = ("RS256", "ES256")
DEFAULT_RETENTION = timedelta(hours=24)


def generate_jwk(algorithm: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new key pair as (kid, private JWK, public JWK)."""
    if algorithm not in ALGORITHMS:
        raise InvalidArgument("Errors.WebKey.Algorithm", f"supported algorithms: {', '.join(ALGORITHMS)}")
    kid = new_id()
    parameters: KeyParameters = {"kid": kid, "alg": algorithm, "use": "sig"}
    key = (
        RSAKey.generate_key(2048, parameters=parameters)
        if algorithm == "RS256"
        else ECKey.generate_key("P-256", parameters=parameters)
    )
    return kid, dict(key.as_dict(private=True)), dict(key.as_dict(private=False))


async def _store_new_key(context: ServiceContext, conn: Connection, instance_id: str, algorithm: str) -> str:
    kid, private_jwk, public_jwk = generate_jwk(algorithm)
    sealed = await seal(context.secret_box, conn, json.dumps(private_jwk))
    await store.insert_web_key(conn, instance_id, kid, algorithm, sealed, public_jwk, context.clock.now())
    return kid


async def ensure_web_key(context: ServiceContext, instance_id: str, algorithm: str = "RS256") -> None:
    """Give the instance an active web key if it has none (instances created before web keys existed)."""
    async with context.database.read() as conn:
        if await store.active_web_key(conn, instance_id) is not None:
            return

    async def create(conn: Connection) -> None:
        # The row lock makes concurrent first uses on PostgreSQL create one key, not one each.
        if (
            await instance_store.lock_instance(conn, instance_id)
            and await store.active_web_key(conn, instance_id) is None
        ):
            await _store_new_key(context, conn, instance_id, algorithm)

    await context.database.write(create)


async def rotate_web_key(
    context: ServiceContext, instance_id: str, algorithm: str = "RS256", retention: timedelta = DEFAULT_RETENTION
) -> str:
    """Make a new key active; the previous public keys stay published for ``retention``."""

    async def rotate(conn: Connection) -> str:
        if not await instance_store.lock_instance(conn, instance_id):
            raise NotFound("Errors.Instance.NotFound", instance_id)
        await store.retire_web_keys(conn, instance_id, context.clock.now() + retention)
        kid = await _store_new_key(context, conn, instance_id, algorithm)
        await _bump(conn, instance_id)
        return kid

    return await context.database.write(rotate)


async def _bump(conn: Connection, instance_id: str) -> None:
    from callout.storage.executions import bump_routing_version

    await bump_routing_version(conn, instance_id)


async def active_web_key(context: ServiceContext, conn: Connection, instance_id: str) -> WebKey | None:
    """The instance's active key, decrypted, for signing; None if it has none yet."""
    found = await store.active_web_key(conn, instance_id)
    if found is None:
        return None
    kid, algorithm, sealed = found
    return WebKey(kid, algorithm, json.loads(unseal(context.secret_box, sealed)))


async def jwks(context: ServiceContext, requested: str | None) -> dict[str, Any]:
    """The public JWKS of the requested instance, else of the default (oldest) one.

    The active key comes first, then retired keys still published. An instance without a key has an
    empty key set, and so has an unknown instance (or none at all): the answer does not tell which
    ids exist. Reading never creates a key: anyone may call this, and a read must not write. Keys
    are made with the instance, by ``callout webkeys rotate``, or when a payload first needs one.
    """
    async with context.database.read() as conn:
        instance_id = requested or await _default_instance(conn)
        if instance_id is None:
            return {"keys": []}
        return {"keys": await store.published_web_keys(conn, instance_id, context.clock.now())}


async def _default_instance(conn: Connection) -> str | None:
    instances = await instance_store.list_instances(conn)
    return instances[0].id if instances else None
