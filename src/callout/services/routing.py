"""Routers per instance, cached and rebuilt whenever the instance's routing version moves.

Every target or execution change bumps the instance's routing version in its own transaction, and
every authenticated call carries the version it saw; so a change applies to the very next call on
every replica (ZITADEL issue #12185 was a stale cache), and unchanged instances cost no query.
"""

from __future__ import annotations

import asyncio

from callout.domain.keys import PublicKey
from callout.domain.targets import PayloadType
from callout.engine.router import EncryptionKey, RoutedTarget, Router, SigningKey
from callout.services.context import ServiceContext
from callout.services.sealing import unseal
from callout.services.webkeys import active_web_key, ensure_web_key
from callout.storage import executions as execution_store
from callout.storage import instances as instance_store
from callout.storage import keys as key_store
from callout.storage import targets as target_store
from callout.storage.database import Connection


class RouterCache:
    """The newest router of each instance seen by this process."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context
        self._routers: dict[str, Router] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def router_for(self, instance_id: str, version: int | None = None) -> Router:
        """The instance's router at ``version`` or newer; without a version it is read first."""
        if version is None:
            async with self._context.database.read() as conn:
                version = await instance_store.routing_version_of(conn, instance_id)
        cached = self._routers.get(instance_id)
        if cached is not None and cached.version >= version:
            return cached
        async with self._locks.setdefault(instance_id, asyncio.Lock()):
            cached = self._routers.get(instance_id)
            if cached is None or cached.version < version:
                cached = self._routers[instance_id] = await self._load(instance_id)
        return cached

    async def _load(self, instance_id: str) -> Router:
        async with self._context.database.read() as conn:
            version = await instance_store.routing_version_of(conn, instance_id)
            routes = await execution_store.all_routes(conn, instance_id)
            chains = await self._chains(conn, instance_id, routes)
            web_key = await active_web_key(self._context, conn, instance_id)
        if web_key is None and _needs_web_key(chains):
            await ensure_web_key(self._context, instance_id)
            async with self._context.database.read() as conn:
                web_key = await active_web_key(self._context, conn, instance_id)
        return Router(chains, version, web_key)

    async def _chains(
        self, conn: Connection, instance_id: str, routes: dict[str, list[str]]
    ) -> dict[str, list[RoutedTarget]]:
        target_ids = sorted({target_id for chain in routes.values() for target_id in chain})
        now = self._context.clock.now()
        targets = await target_store.find_targets(conn, instance_id, target_ids)
        secrets = await target_store.signing_secrets_of(conn, target_ids, now)
        public_keys = await key_store.active_public_keys_of(conn, target_ids, now)
        routed = {
            target_id: RoutedTarget(
                target,
                tuple(
                    SigningKey(unseal(self._context.secret_box, sealed), expiry)
                    for sealed, expiry in secrets.get(target_id, [])
                ),
                _encryption_key(public_keys.get(target_id)),
            )
            for target_id, target in targets.items()
        }
        return {execution_id: [routed[t] for t in chain if t in routed] for execution_id, chain in routes.items()}


def _encryption_key(key: PublicKey | None) -> EncryptionKey | None:
    return None if key is None else EncryptionKey(key.key_id, key.public_key_pem, key.expiration_date)


def _needs_web_key(chains: dict[str, list[RoutedTarget]]) -> bool:
    signed = (PayloadType.JWT, PayloadType.JWE)
    return any(routed.target.payload_type in signed for chain in chains.values() for routed in chain)


async def load_routed_target(context: ServiceContext, instance_id: str, target_id: str) -> RoutedTarget | None:
    """A live target with its keys, whether or not an execution still binds it (for queued deliveries)."""
    async with context.database.read() as conn:
        targets = await target_store.find_targets(conn, instance_id, [target_id])
        if target_id not in targets:
            return None
        now = context.clock.now()
        secrets = await target_store.signing_secrets_of(conn, [target_id], now)
        public_keys = await key_store.active_public_keys_of(conn, [target_id], now)
    signing = tuple(
        SigningKey(unseal(context.secret_box, sealed), expiry) for sealed, expiry in secrets.get(target_id, [])
    )
    return RoutedTarget(targets[target_id], signing, _encryption_key(public_keys.get(target_id)))
