"""The app ``callout serve`` runs: API and workers over one context, metrics without per-target labels.

The app is built as ``serve`` builds it (``server.build_app``) on a real database, and called in
process; its workers are driven one batch at a time so that nothing depends on timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callout.api.app import create_app, with_api_catalog
from callout.api.metrics import metrics_app
from callout.server import ServedApp, build_app
from callout.services.auth import authenticate
from callout.services.context import ServiceContext
from callout.services.workers import WorkerPool
from callout.settings import Settings
from tests.delivery_receivers import ReceiverFactory

ACTION = "/zitadel.action.v2.ActionService"
LIST_TARGETS = f"{ACTION}/ListTargets"


class Served:
    """A served app, an owner's client of it and a scraper of its metrics."""

    def __init__(self, served: ServedApp, token: str) -> None:
        self.served = served
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served.app),
            base_url="http://callout.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        self.scraper = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=metrics_app(served.metrics.registry)), base_url="http://metrics.test"
        )

    async def rpc(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Call an ActionService v2 RPC over Connect; it must succeed."""
        response = await self.client.post(f"{ACTION}/{name}", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def async_target_on_list_targets(self, url: str) -> str:
        """A rest_async target bound to the request of ListTargets; returns its id."""
        created = await self.rpc("CreateTarget", {"name": "async", "restAsync": {}, "timeout": "5s", "endpoint": url})
        await self.rpc("SetExecution", {"condition": {"request": {"method": LIST_TARGETS}}, "targets": [created["id"]]})
        return str(created["id"])

    async def instance_id(self) -> str:
        """The instance the owner's token acts in."""
        authorization = self.client.headers["Authorization"]
        return (await authenticate(self.served.context, authorization)).instance_id

    async def close(self) -> None:
        """Close the clients and the services."""
        await self.client.aclose()
        await self.scraper.aclose()
        await self.served.context.close()


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app ``serve`` would run on this database (development mode, so loopback targets are allowed)."""
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, dev=True, egress_resolver="static", metrics_address=""
    )
    app = Served(await build_app(settings), (tmp_path / "admin.pat").read_text().strip())
    yield app
    await app.close()


class TestSharedContext:
    async def test_workers_and_api_use_one_context(self, served: Served) -> None:
        """The workers' context is the API's context: one router cache and one chain runner for both."""
        api_context = served.served.app.state.api.context
        worker_context = served.served.workers.context
        assert worker_context is api_context
        assert worker_context.routers is api_context.routers
        assert worker_context.chains is api_context.chains

    async def test_set_execution_is_seen_by_the_workers_router_at_once(self, served: Served) -> None:
        """After SetExecution through the API the workers route by the very router the API's next call uses."""
        async with ReceiverFactory() as receivers:
            receiver = await receivers.start()
            target_id = await served.async_target_on_list_targets(receiver.url())
            await served.rpc("ListTargets", {})  # the API routes this call, and enqueues one delivery
            assert await served.served.workers.workers[0].run_once() == 1
        assert len(receiver.hits) == 1
        instance_id = await served.instance_id()
        worker_router = await served.served.workers.context.routers.router_for(instance_id)
        api_router = await served.served.app.state.api.context.routers.router_for(instance_id)
        assert worker_router is api_router
        assert worker_router.target(target_id) is not None


class TestAppAssembly:
    async def test_api_catalog_is_added_once(self, context: ServiceContext) -> None:
        """A context that already has callout's methods is used as it is, not copied with fresh caches."""
        with_methods = with_api_catalog(context)
        assert with_methods is not context
        assert with_api_catalog(with_methods) is with_methods
        assert f"{ACTION}/SetExecution" in with_methods.catalog.methods

    async def test_workers_on_another_context_are_refused(self, context: ServiceContext) -> None:
        """create_app refuses workers whose context is not the app's, which would split the caches."""
        with pytest.raises(ValueError, match="share the app's context"):
            create_app(context, workers=WorkerPool(context, 1))


class TestMetricLabels:
    async def test_no_label_value_names_a_target_or_an_instance(self, served: Served) -> None:
        """After RPCs, a target call and a delivery, no sample of any metric has a target or instance id in a label."""
        async with ReceiverFactory() as receivers:
            target_id = await served.async_target_on_list_targets((await receivers.start()).url())
            await served.rpc("ListTargets", {})
            assert await served.served.workers.workers[0].run_once() == 1
        instance_id = await served.instance_id()
        exposition = (await served.scraper.get("/metrics")).text
        samples = [sample for family in text_string_to_metric_families(exposition) for sample in family.samples]
        assert any(s.name == "callout_delivery_attempt_seconds_count" and s.value == 1 for s in samples)
        values = [value for sample in samples for value in sample.labels.values()]
        assert not [value for value in values if target_id in value or instance_id in value]
