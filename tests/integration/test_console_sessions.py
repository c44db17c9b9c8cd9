"""Console sessions as the services see them, on SQLite and PostgreSQL (docs/console.md)."""

from __future__ import annotations

from datetime import timedelta

from callout.domain.console import SessionLimits
from callout.domain.executions import Condition, ConditionType
from callout.domain.targets import TargetSpec, TargetType
from callout.services import console
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.executions import set_execution
from tests.conftest import MakePrincipal


class TestSignedInPrincipal:
    async def test_principal_carries_the_current_routing_version(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A session's principal has the instance's routing version of the moment, so API calls see new routes."""
        principal, token = await make_principal()
        session_id, _ = await console.sign_in(context, SessionLimits(), token)
        spec = TargetSpec("hook", TargetType.WEBHOOK, False, timedelta(seconds=5), "https://example.com/hook")
        target, _ = await target_service.create_target(context, principal, spec)
        await set_execution(context, principal, Condition(ConditionType.FUNCTION, name="preuserinfo"), [target.id])
        signed_in = await console.find_signed_in(context, SessionLimits(), session_id)
        assert signed_in is not None
        assert signed_in.principal.routing_version > principal.routing_version
