"""The job queue as a built-in plugin: the store, the :class:`JobQueue`, the worker, ``/jobs`` and the CLI.

Enabled unless ``queue_url`` is ``none``. It provides :class:`JobQueue` (and the app's ``Enqueuer``) to
actions and services, carries the enqueuer's context into the job row, runs a :class:`Worker` when
``worker`` is on, serves the ``/jobs`` routes (guarded: :mod:`plugwork.queue.access`) and adds the
``plugwork jobs`` and ``plugwork db`` commands.
This module is the worked example of docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..app import Enqueuer
from ..errors import DependencyError
from ..http.guard import RouteGuard
from ..plugins import AppInit, Background, Component, Plugin
from .access import JobsAccess, QueueSettings

# Every app imports this module (a built-in plugin): the queue's own modules are imported by the hooks of
# an enabled queue, so that ``queue_url: none`` costs nothing.
if TYPE_CHECKING:
    import click
    from starlette.routing import BaseRoute

    from ..app import App
    from .client import JobQueue
    from .metrics import QueueMetrics
    from .store import JobStore


class QueuePlugin(Plugin):
    """The durable job queue (see the module docstring)."""

    name = "queue"
    settings_model = QueueSettings

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.store: JobStore | None = None
        self.queue: JobQueue | None = None
        self._metrics: QueueMetrics | None = None
        self.access: JobsAccess | None = None

    def enabled(self, app: App) -> bool:
        url = app.settings.queue_url
        if not url or url == "none":
            return False
        from .factory import store_class

        store_class(url)  # an unsupported URL or a missing extra fails here, before anything starts
        return True

    def on_app_init(self, init: AppInit) -> None:
        from .client import JobQueue
        from .factory import store_from_url
        from .metrics import QueueMetrics

        settings = init.settings
        app = init.app
        store = self.store = store_from_url(settings.queue_url, auto_migrate=settings.queue_auto_migrate)
        queue = self.queue = JobQueue(store, app.actions)
        init.provide(JobQueue, queue)
        init.provide(Enqueuer, queue)
        if self._metrics is None:  # added once to the app's metrics, reused by later starts
            self._metrics = QueueMetrics(store, list(app.actions))
            app.add_metrics_collector(self._metrics)
        self._metrics.store = store
        init.add_health_check("job_queue", self._metrics.health_check)

    async def start(self, app: App) -> Component | None:
        from .worker import Worker

        store, queue, metrics = self.store, self.queue, self._metrics
        assert store is not None and queue is not None and metrics is not None
        try:
            guard: RouteGuard | None = app.get(RouteGuard)  # type: ignore[type-abstract]
        except DependencyError:
            guard = None
        # Decided at start, so that a jobs_api the app cannot honour fails the start, not a request.
        self.access = JobsAccess.resolve(self.config, dev_mode=app.settings.dev_mode, guard=guard)
        await store.open()
        queue.carriers = app.carriers
        settings = app.settings
        if not settings.worker:
            return Background("queue", None, _noop, store.close)
        worker = Worker(
            store,
            app.dispatcher,
            actions=app.actions,
            concurrency=settings.max_concurrent_jobs,
            job_timeout=settings.job_timeout_seconds,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            queues=settings.queues or sorted({spec.queue for spec in app.actions.values()} | {"default"}),
            retention=settings.queue_retention_seconds,
            poll_interval=settings.polling_interval_seconds,
            metrics=metrics,
            carriers=app.carriers,
        )
        return Background("worker", worker.run(), worker.stop, store.close)

    def routes(self, app: App) -> Sequence[BaseRoute]:
        from .http import job_routes

        assert self.queue is not None and self.access is not None
        if self.access.mode == "off":
            return ()
        return job_routes(
            self.queue, app.carriers, max_body_bytes=app.settings.max_body_bytes, access=self.access
        )

    def openapi_paths(self, app: App) -> dict[str, Any]:
        from .http import job_openapi_paths

        return job_openapi_paths(sorted(app.actions))

    def cli(self) -> Sequence[click.Command]:
        from .cli import db, jobs
        from .probe import worker_health

        jobs.add_command(worker_health)  # the exec probe of worker processes (docs/deploy.md)
        return [jobs, db]


async def _noop() -> None:
    return None
