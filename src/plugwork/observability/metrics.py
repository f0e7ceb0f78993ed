"""Prometheus metrics through prometheus-client, on a registry each App owns (no global state).

The invocation middleware keeps label children in dicts, so the per-invocation cost is two dict lookups, a
counter increment and a histogram observation — no label resolution on the hot path.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ..dispatch import CallNext, Invocation, Outcome

__all__ = ["CONTENT_TYPE_LATEST", "InvocationMetrics", "render"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNKNOWN = "__unknown__"


class InvocationMetrics:
    """Invocations by action, transport and outcome; latency by action; in-flight; health."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.invocations = Counter(
            "plugwork_invocations",
            "Invocations by action, transport and outcome (OK or the error code)",
            ["action", "transport", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "plugwork_invocation_duration_seconds",
            "Invocation latency by action",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge("plugwork_invocations_in_flight", "Invocations running now", registry=registry)
        self.health = Gauge(
            "plugwork_health_status", "Health status (0=RED, 1=YELLOW, 2=GREEN)", registry=registry
        )
        self.health.set(2)
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._latencies: dict[str, Any] = {}

    def prepare(self, actions: list[str], transports: tuple[str, ...] = ("http",)) -> None:
        """Create the label children that will be needed, once, at start-up."""
        for name in [*actions, UNKNOWN]:
            self._latencies[name] = self.latency.labels(name)
            for transport in transports:
                self._counters[(name, transport, "OK")] = self.invocations.labels(name, transport, "OK")

    def _counter(self, key: tuple[str, str, str]) -> Any:
        child = self._counters[key] = self.invocations.labels(*key)
        return child

    def _histogram(self, action: str) -> Any:
        child = self._latencies[action] = self.latency.labels(action)
        return child

    async def middleware(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        """Count and time every invocation (installed first in every chain)."""
        in_flight = self.in_flight
        in_flight.inc()
        start = time.perf_counter()
        try:
            outcome = await call_next(invocation)
        finally:
            in_flight.dec()
        elapsed = time.perf_counter() - start
        action = invocation.action if invocation.spec is not None else UNKNOWN
        key = (action, invocation.context.transport, outcome.code)
        (self._counters.get(key) or self._counter(key)).inc()
        (self._latencies.get(action) or self._histogram(action)).observe(elapsed)
        return outcome


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
