"""Prometheus metrics of the queue, and the queue's health check.

The worker hands :meth:`QueueMetrics.record_batch` what it counted over one flush, so the per-job cost
is a dict increment, not a metric update. The counts are plain numbers that the app's registry reads at
each scrape (:meth:`QueueMetrics.collect`), so prometheus-client is not imported before a scrape. Queue
depth comes from ``store.counts()``, refreshed every ``depth_interval`` seconds by the worker (one cheap
query, not one per scrape).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..observability.metrics import cumulative_buckets
from .jobs import ACTIVE
from .store import JobStore

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .worker import Worker

FINAL_STATUSES = ("completed", "failed", "dead", "cancelled")
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
Health = Literal["GREEN", "YELLOW", "RED"]


class QueueMetrics:
    """The queue's metrics, a collector for the app's registry; every action's series exist from the start."""

    def __init__(
        self,
        store: JobStore,
        actions: Iterable[str] = (),
        *,
        depth_interval: float = 15.0,
        health_timeout: float = 2.0,
    ) -> None:
        self.store = store
        self.worker: Worker | None = None
        """Set by the :class:`~plugwork.queue.worker.Worker` that reports here (for the health check)."""
        self.depth_interval = depth_interval
        self.health_timeout = health_timeout
        self.jobs: dict[tuple[str, str], int] = {}
        """Deliveries by (action, status)."""
        self.retries: dict[str, int] = {}
        self.dead: dict[str, int] = {}
        self.active = 0
        self.depth: dict[str, int] = {status.value: 0 for status in ACTIVE}
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        """Start latencies per bucket (not cumulative; +Inf last)."""
        self.latency_sum = 0.0
        for action in actions:
            for status in FINAL_STATUSES:
                self.jobs[(action, status)] = 0
            self.retries[action] = 0
            self.dead[action] = 0

    def record_batch(
        self, counts: Mapping[tuple[str, str], int], latencies: Sequence[float], active: int
    ) -> None:
        """Add one flush's worth of outcomes and start latencies."""
        jobs = self.jobs
        for key, n in counts.items():
            jobs[key] = jobs.get(key, 0) + n
            action, status = key
            if status == "failed":
                self.retries[action] = self.retries.get(action, 0) + n
            elif status == "dead":
                self.dead[action] = self.dead.get(action, 0) + n
        buckets = self.latency_buckets
        for value in latencies:
            value = max(0.0, value)
            buckets[bisect_left(LATENCY_BUCKETS, value)] += 1
            self.latency_sum += value
        self.active = active

    async def refresh_depth(self) -> None:
        """Set the depth gauge (waiting and running jobs) from the store."""
        for status, n in (await self.store.depth()).items():
            self.depth[status.value] = n

    def collect(self) -> Iterator[Metric]:
        """The metric families, built at each scrape from the numbers above."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        jobs = CounterMetricFamily(
            "plugwork_jobs",
            "Job deliveries by action and outcome (failed = will be retried).",
            labels=["action", "status"],
        )
        for (action, status), n in list(self.jobs.items()):
            jobs.add_metric([action, status], n)
        yield jobs
        for name, doc, values in (
            ("plugwork_job_retries", "Job deliveries that failed and were scheduled again.", self.retries),
            ("plugwork_jobs_dead", "Jobs that ended dead (attempts exhausted or not retryable).", self.dead),
        ):
            family = CounterMetricFamily(name, doc, labels=["action"])
            for action, n in list(values.items()):
                family.add_metric([action], n)
            yield family
        yield GaugeMetricFamily("plugwork_jobs_active", "Jobs running in this worker now.", value=self.active)
        depth = GaugeMetricFamily(
            "plugwork_queue_depth",
            "Jobs waiting (ready, failed) or running (assigned, processing), by status.",
            labels=["status"],
        )
        for status, n in list(self.depth.items()):
            depth.add_metric([status], n)
        yield depth
        latency = HistogramMetricFamily(
            "plugwork_job_start_latency_seconds",
            "From the time a job became runnable (enqueue or run_at) to the start of its run.",
            labels=[],
        )
        latency.add_metric([], cumulative_buckets(self.latency_buckets, LATENCY_BUCKETS), self.latency_sum)
        yield latency

    async def health_check(self) -> tuple[Health, dict[str, Any]]:
        """The queue's health (see :func:`queue_health`), ready to register with the app's health."""
        return await queue_health(self.store, self.worker, timeout=self.health_timeout)


async def queue_health(
    store: JobStore, worker: Worker | None = None, *, timeout: float = 2.0
) -> tuple[Health, dict[str, Any]]:
    """GREEN when the store answers; YELLOW while a worker is reconnecting; RED when unreachable."""
    details: dict[str, Any] = {"store": store.url.split("@")[-1]}
    try:
        async with asyncio.timeout(timeout):
            await store.ping()
    except Exception as exc:
        details["error"] = f"{type(exc).__name__}: {exc}"
        return "RED", details
    if worker is not None:
        details["worker_id"] = worker.worker_id
        details["running_jobs"] = worker.running_jobs
        if worker.reconnecting:
            details["error"] = worker.last_error
            return "YELLOW", details
    return "GREEN", details
