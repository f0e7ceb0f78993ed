"""Prometheus metrics of the queue, and the queue's health check.

The worker hands :meth:`QueueMetrics.record_batch` what it counted over one flush, so the per-job cost
is a dict increment, not a metric update. Queue depth comes from ``store.counts()``, refreshed every
``depth_interval`` seconds by the worker (one cheap query, not one per scrape).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .jobs import ACTIVE
from .store import JobStore

if TYPE_CHECKING:
    from .worker import Worker

FINAL_STATUSES = ("completed", "failed", "dead", "cancelled")
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
Health = Literal["GREEN", "YELLOW", "RED"]


class QueueMetrics:
    """The queue's metrics, registered on the app's ``registry``; label children made up front."""

    def __init__(
        self,
        registry: CollectorRegistry,
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
        self.jobs = Counter(
            "plugwork_jobs",
            "Job deliveries by action and outcome (failed = will be retried).",
            ["action", "status"],
            registry=registry,
        )
        self.retries = Counter(
            "plugwork_job_retries",
            "Job deliveries that failed and were scheduled again.",
            ["action"],
            registry=registry,
        )
        self.dead = Counter(
            "plugwork_jobs_dead",
            "Jobs that ended dead (attempts exhausted or not retryable).",
            ["action"],
            registry=registry,
        )
        self.active = Gauge("plugwork_jobs_active", "Jobs running in this worker now.", registry=registry)
        self.depth = Gauge(
            "plugwork_queue_depth",
            "Jobs waiting (ready, failed) or running (assigned, processing), by status.",
            ["status"],
            registry=registry,
        )
        self.start_latency = Histogram(
            "plugwork_job_start_latency_seconds",
            "From the time a job became runnable (enqueue or run_at) to the start of its run.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        for action in actions:
            for status in FINAL_STATUSES:
                self._child(action, status)
            self.retries.labels(action)
            self.dead.labels(action)
        for status in ACTIVE:
            self.depth.labels(status.value)

    def _child(self, action: str, status: str) -> Any:
        child = self._children.get((action, status))
        if child is None:
            child = self._children[(action, status)] = self.jobs.labels(action, status)
        return child

    def record_batch(
        self, counts: Mapping[tuple[str, str], int], latencies: Sequence[float], active: int
    ) -> None:
        """Add one flush's worth of outcomes and start latencies."""
        for (action, status), n in counts.items():
            self._child(action, status).inc(n)
            if status == "failed":
                self.retries.labels(action).inc(n)
            elif status == "dead":
                self.dead.labels(action).inc(n)
        observe = self.start_latency.observe
        for value in latencies:
            observe(max(0.0, value))
        self.active.set(active)

    async def refresh_depth(self) -> None:
        """Set the depth gauge (waiting and running jobs) from the store."""
        for status, n in (await self.store.depth()).items():
            self.depth.labels(status.value).set(n)

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
