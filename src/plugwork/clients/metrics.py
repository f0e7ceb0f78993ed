"""Per-upstream client metrics: one Prometheus collector per registry, shared by every client service.

Like :mod:`plugwork.observability.metrics`, the hot path bumps plain integers (one event loop owns them)
and the metric families are built at scrape time.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..observability.metrics import LATENCY_BUCKETS, cumulative_buckets

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ClientMetrics] = weakref.WeakKeyDictionary()


class ClientMetrics(Collector):
    """Requests by upstream, method and status; latency and retries by upstream; breaker state."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.retries: dict[str, int] = {}
        self.latency: dict[str, list[float]] = {}  # per-bucket counts (+Inf last), then the sum
        self.breakers: dict[str, Callable[[], int]] = {}

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> ClientMetrics:
        """The registry's one collector, registered on first use."""
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls()
            registry.register(metrics)
        return metrics

    def observe(self, upstream: str, method: str, status: str, elapsed: float) -> None:
        """Count one attempt (``status``: the HTTP status, or ``error``/``timeout``) and its latency."""
        key = (upstream, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(upstream)
        if hist is None:
            hist = self.latency[upstream] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        hist[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        hist[-1] += elapsed

    def retried(self, upstream: str) -> None:
        self.retries[upstream] = self.retries.get(upstream, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "plugwork_client_requests",
            "Outbound HTTP attempts by upstream, method and status (or error/timeout/circuit_open)",
            labels=["upstream", "method", "status"],
        )
        for labels, value in list(self.requests.items()):
            requests.add_metric(labels, value)
        yield requests
        retries = CounterMetricFamily(
            "plugwork_client_retries", "Outbound HTTP retries by upstream", labels=["upstream"]
        )
        for upstream, count in list(self.retries.items()):
            retries.add_metric([upstream], count)
        yield retries
        latency = HistogramMetricFamily(
            "plugwork_client_request_duration_seconds", "Outbound HTTP attempt latency", labels=["upstream"]
        )
        for upstream, hist in list(self.latency.items()):
            latency.add_metric([upstream], cumulative_buckets(hist[:-1]), hist[-1])
        yield latency
        state = GaugeMetricFamily(
            "plugwork_client_circuit_state",
            "Circuit breaker state by upstream (0=closed, 1=half_open, 2=open)",
            labels=["upstream"],
        )
        for upstream, read in list(self.breakers.items()):
            state.add_metric([upstream], read())
        yield state
