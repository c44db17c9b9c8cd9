"""Prometheus metrics of one application: RPCs by method, transport and code, and their latency."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from callout.services.context import ServiceContext


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

    def watch(self, context: ServiceContext) -> None:
        """Also export the engine's target-call outcomes and the egress policy's refusals."""
        self.registry.register(_EngineCollector(context))


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
