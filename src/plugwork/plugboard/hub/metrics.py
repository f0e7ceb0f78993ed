"""The hub's Prometheus metrics, on a registry the hub app owns.

A custom collector, as the app's invocation metrics are (:mod:`plugwork.observability.metrics`): a producer
request bumps plain integers (one event-loop thread owns them: no lock), and the metric families are built
when Prometheus scrapes. prometheus-client's Counter and Histogram objects took a lock per update and cost
~3 µs per request.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ...observability.metrics import LATENCY_BUCKETS, cumulative_buckets

OUTCOMES = (
    "answered",  # the consumer replied (whatever its status_code)
    "bad_response",
    "timeout",
    "no_consumer",
    "consumer_gone",
    "overloaded",
    "unauthorized",
    "not_found",
    "bad_request",
    "too_large",
    "store_unavailable",
    "error",
)


class HubMetrics(Collector):
    """Connected consumers, producer requests by outcome, round-trip latency."""

    def __init__(self, registry: CollectorRegistry, connected: Callable[[], float]) -> None:
        self.registry = registry
        self._connected = connected
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket (not cumulative), +Inf last
        self._total = 0.0
        registry.register(self)

    def count(self, outcome: str) -> None:
        """One producer request ended with ``outcome``."""
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def observe(self, seconds: float) -> None:
        """The round trip of an answered request."""
        self._buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._total += seconds

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "plugboard_hub_consumers_connected", "Consumers joined to this hub", value=self._connected()
        )
        requests = CounterMetricFamily(
            "plugboard_hub_requests", "Producer requests by outcome", labels=["outcome"]
        )
        for outcome, value in list(self.outcomes.items()):
            requests.add_metric([outcome], value)
        yield requests
        yield HistogramMetricFamily(
            "plugboard_hub_round_trip_seconds",
            "Producer request round trip through a consumer (answered requests)",
            buckets=cumulative_buckets(self._buckets),
            sum_value=self._total,
        )
