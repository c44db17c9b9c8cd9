"""What every use case needs: database, secret box, clock, egress policy, resolver, catalog and sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from callout.delivery.resolvers import Resolver, SystemResolver
from callout.delivery.sender import Sender
from callout.domain.catalog import CALLOUT_EVENT_TYPES, ZITADEL_FUNCTIONS, Catalog, CatalogLimits
from callout.domain.clock import Clock, SystemClock
from callout.domain.egress import EgressPolicy
from callout.engine.chain import ChainRunner
from callout.errors import Unavailable
from callout.services.secrets import SecretBox

if TYPE_CHECKING:
    from callout.services.routing import RouterCache
from callout.storage.database import Database

BUILT_IN_CATALOG = Catalog(functions=frozenset(ZITADEL_FUNCTIONS), event_types=frozenset(CALLOUT_EVENT_TYPES))


@dataclass(frozen=True)
class ServiceContext:
    """The dependencies shared by the services of one process."""

    database: Database
    secret_box: SecretBox
    clock: Clock = field(default_factory=SystemClock)
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    resolver: Resolver = field(default_factory=SystemResolver)
    catalog: Catalog = field(default_factory=lambda: BUILT_IN_CATALOG)
    catalog_limits: CatalogLimits = field(default_factory=CatalogLimits)
    sender: Sender | None = None

    async def close(self) -> None:
        """Finish background calls, close the sender, then the database."""
        if "chains" in self.__dict__:
            await self.chains.drain()
        closer = getattr(self.sender, "close", None)
        if closer is not None:
            await closer()
        await self.database.close()

    @cached_property
    def routers(self) -> RouterCache:
        """This context's per-instance router cache."""
        from callout.services.routing import RouterCache

        return RouterCache(self)

    @cached_property
    def chains(self) -> ChainRunner:
        """The runner that calls targets through this context's sender."""
        if self.sender is None:
            raise Unavailable("Errors.Execution.NoSender", "outbound calls are not configured")
        return ChainRunner(self.sender, self.clock)
