"""Prometheus metrics of one application: RPCs by method, transport and code, and their latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
