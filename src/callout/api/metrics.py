"""Prometheus metrics of one process: RPCs, target calls, deliveries; served on their own listener.

Labels take only values from small fixed sets (RPC names, result codes, outcomes): never a target,
instance or other id, so the series count stays bounded and a scrape shows no tenant's data.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callout.services.context import ServiceContext
from callout.services.worker import LATENCY_BUCKETS, WorkerStats
from callout.services.workers import WorkerPool


class ApiMetrics:
    """The collectors, on a registry of their own so that several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "callout_rpc_requests",
            "RPCs handled, by method, transport and result code.",
            ["rpc", "transport", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "callout_rpc_duration_seconds",
            "Time to handle an RPC.",
            ["rpc", "transport"],
            registry=self.registry,
        )

    def observe(self, rpc: str, transport: str, code: str, seconds: float) -> None:
        """Count one finished RPC."""
        self.requests.labels(rpc, transport, code).inc()
        self.latency.labels(rpc, transport).observe(seconds)

    def watch(self, context: ServiceContext, workers: WorkerPool | None = None) -> None:
        """Also export target-call outcomes, egress refusals and, with workers, the delivery metrics."""
        self.registry.register(_EngineCollector(context))
        if workers is not None:
            self.registry.register(_DeliveryCollector(workers))


class _EngineCollector(Collector):
    """Reads the counters the engine and the sender keep, at scrape time."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def collect(self) -> Iterator[CounterMetricFamily]:
        calls = CounterMetricFamily("callout_target_calls", "Target calls by outcome.", labels=["outcome"])
        if "chains" in self._context.__dict__:  # created on the first target call
            for outcome, count in sorted(self._context.chains.outcomes.items()):
                calls.add_metric([outcome], count)
        yield calls
        blocked = CounterMetricFamily("callout_egress_blocked", "Target calls refused by the egress policy.")
        blocked.add_metric([], getattr(self._context.sender, "blocked", 0))
        yield blocked


class _DeliveryCollector(Collector):
    """Deliveries by outcome, retries, attempt latency, queue depth, oldest due age and pruned rows."""

    def __init__(self, workers: WorkerPool) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        stats = self._workers.stats
        outcomes = CounterMetricFamily("callout_deliveries", "Delivery attempts by resulting state.", labels=["state"])
        for state in sorted({name for s in stats for name in s.outcomes}):
            outcomes.add_metric([state], sum(s.outcomes[state] for s in stats))
        yield outcomes
        yield CounterMetricFamily(
            "callout_delivery_retries", "Attempts that were retried.", value=sum(s.retries for s in stats)
        )
        yield self._latency(stats)
        yield GaugeMetricFamily(
            "callout_delivery_queue_depth", "Deliveries pending or in flight.", value=self._workers.gauges.depth
        )
        yield GaugeMetricFamily(
            "callout_delivery_oldest_due_seconds",
            "Age of the oldest due delivery.",
            value=self._workers.gauges.oldest_due_seconds,
        )
        pruned = CounterMetricFamily(
            "callout_pruned_rows", "Rows deleted by retention, by kind (docs/retention.md).", labels=["kind"]
        )
        for kind, count in self._workers.pruner.counts.by_kind().items():
            pruned.add_metric([kind], count)
        yield pruned

    def _latency(self, stats: list[WorkerStats]) -> HistogramMetricFamily:
        family = HistogramMetricFamily("callout_delivery_attempt_seconds", "Delivery attempt latency.")
        counts = [sum(column) for column in zip(*(s.latency for s in stats), strict=True)] if stats else []
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, LATENCY_BUCKETS), "+Inf"], counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        if buckets:
            family.add_metric([], buckets, sum(s.latency_sum_us for s in stats) / 1_000_000)
        return family


def metrics_app(registry: CollectorRegistry) -> Starlette:
    """The metrics listener's app: ``GET /metrics`` in the Prometheus text format, 404 elsewhere."""

    async def exposition(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", exposition, methods=["GET"])])
