"""The hub's Prometheus metrics, on a registry the hub app owns; label children made once at start-up."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ...observability.metrics import LATENCY_BUCKETS

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


class HubMetrics:
    """Connected consumers, producer requests by outcome, round-trip latency."""

    def __init__(self, registry: CollectorRegistry, connected: Callable[[], float]) -> None:
        self.registry = registry
        self.consumers = Gauge(
            "plugboard_hub_consumers_connected", "Consumers joined to this hub", registry=registry
        )
        self.consumers.set_function(connected)
        self.requests = Counter(
            "plugboard_hub_requests", "Producer requests by outcome", ["outcome"], registry=registry
        )
        self.latency = Histogram(
            "plugboard_hub_round_trip_seconds",
            "Producer request round trip through a consumer (answered requests)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._outcomes = {outcome: self.requests.labels(outcome) for outcome in OUTCOMES}
        self.observe = self.latency.observe

    def count(self, outcome: str) -> None:
        self._outcomes[outcome].inc()
