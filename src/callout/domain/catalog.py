"""The catalog: services, methods, functions and event types that executions may be bound to.

See docs/behaviour.md, Executions and conditions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callout.domain.executions import Condition, ConditionType
from callout.errors import InvalidArgument, NotFound, ResourceExhausted

ZITADEL_FUNCTIONS = ("preuserinfo", "preaccesstoken", "presamlresponse")
CALLOUT_EVENT_TYPES = (
    "target.added",
    "target.changed",
    "target.removed",
    "target.key.added",
    "target.key.activated",
    "target.key.deactivated",
    "target.key.removed",
    "execution.v2.set",
    "execution.removed",
)


@dataclass(frozen=True)
class Catalog:
    """Known methods (``/pkg.Service/Method``), functions and event types."""

    methods: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    @property
    def services(self) -> frozenset[str]:
        """Every service named by a method."""
        return frozenset(method.strip("/").split("/")[0] for method in self.methods)

    def merged(self, methods: Iterable[str] = (), functions: Iterable[str] = (), events: Iterable[str] = ()) -> Catalog:
        """A catalog with more entries."""
        return Catalog(
            self.methods | frozenset(methods),
            self.functions | frozenset(functions),
            self.event_types | frozenset(events),
        )

    def require(self, condition: Condition) -> None:
        """Raise NotFound ConditionInvalid unless the condition names something that exists."""
        if not self._exists(condition):
            raise NotFound(
                "Errors.Execution.ConditionInvalid", "the condition names no known method, service, function or event"
            )

    def _exists(self, condition: Condition) -> bool:
        if condition.all:
            return True
        if condition.type in (ConditionType.REQUEST, ConditionType.RESPONSE):
            return condition.method in self.methods if condition.method else condition.service in self.services
        if condition.type is ConditionType.FUNCTION:
            return condition.name in self.functions
        if condition.event:
            return condition.event in self.event_types
        group = condition.group.removesuffix(".*")
        # Unlike ZITADEL's plain string prefix, at a "." boundary: the router only matches there, so
        # a group such as "targ" could never fire.
        return any(event_type.startswith(group + ".") for event_type in self.event_types)


@dataclass(frozen=True)
class CatalogLimits:
    """How many entries of each kind host applications may register per instance (docs/limits.md).

    One RegisterCatalog call may carry at most as many distinct entries of a kind as an instance may hold.
    The built-in and configured (file) catalogs do not count: they are the operator's, not a client's.
    """

    methods: int = 10_000
    functions: int = 1_000
    events: int = 1_000

    def of(self, kind: str) -> int:
        """The cap of a kind (``method``, ``function`` or ``event``)."""
        return {"method": self.methods, "function": self.functions, "event": self.events}[kind]

    def check_call(self, kind: str, count: int) -> None:
        """Refuse a call with more entries of a kind than an instance may hold at all."""
        if count > self.of(kind):
            raise InvalidArgument(
                "Errors.Catalog.TooManyEntries", f"at most {self.of(kind)} {kind} entries may be registered"
            )

    def check_total(self, kind: str, total: int) -> None:
        """Refuse a registration that would leave the instance with more entries of a kind than its cap."""
        if total > self.of(kind):
            raise ResourceExhausted(
                "Errors.Catalog.Full",
                f"the instance would hold {total} {kind} entries; at most {self.of(kind)} may be registered",
            )


def validate_method_name(method: str) -> bool:
    """A method is ``/package.Service/Method`` with no empty part."""
    parts = method.split("/")
    return len(parts) == 3 and parts[0] == "" and all(parts[1:]) and len(method) <= 1000
