"""What every use case needs: the database, the secret box, the clock, the egress policy and resolver."""

from __future__ import annotations

from dataclasses import dataclass, field

from callout.delivery.resolvers import Resolver, SystemResolver
from callout.domain.catalog import CALLOUT_EVENT_TYPES, ZITADEL_FUNCTIONS, Catalog
from callout.domain.clock import Clock, SystemClock
from callout.domain.egress import EgressPolicy
from callout.services.secrets import SecretBox
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
