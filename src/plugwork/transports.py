"""Starting the long-running transports that settings ask for: the queue worker, the Plugboard consumer.

Each starter returns a :class:`Background` (or None when not configured) that :class:`App` stops, in
reverse order, before it stops services — so in-flight jobs and requests finish while their dependencies
still run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .observability.logging import get_logger

if TYPE_CHECKING:
    from .app import App

log = get_logger("plugwork.transports")
Starter = Callable[[], Awaitable["Background | None"]]


class Background:
    """A running coroutine plus how to stop it gracefully and what to close afterwards."""

    def __init__(
        self,
        name: str,
        run: Coroutine[Any, Any, Any] | None,
        stop: Callable[[], Awaitable[Any]],
        close: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.name = name
        self._stop = stop
        self._close = close
        self.task = asyncio.create_task(run, name=f"plugwork-{name}") if run is not None else None
        if self.task is not None:
            self.task.add_done_callback(self._report)

    def _report(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background component crashed", component=self.name, error=repr(task.exception()))

    async def stop(self) -> None:
        """Stop gracefully, cancel the task if it outlives that by 5 s, then close what it used."""
        try:
            await self._stop()
            if self.task is not None and not self.task.done():
                await asyncio.wait_for(asyncio.shield(self.task), timeout=5.0)
        except TimeoutError:
            if self.task is not None:
                self.task.cancel()
        finally:
            if self._close is not None:
                await self._close()


def queue_starter(app: App) -> Starter:
    """Open the job store of ``settings.queue_url`` (``none`` disables it) and run a worker if enabled."""

    async def start() -> Background | None:
        settings = app.settings
        if not settings.queue_url or settings.queue_url == "none":
            return None
        from .queue import store_from_url
        from .queue.client import JobQueue
        from .queue.metrics import QueueMetrics
        from .queue.worker import Worker

        store = store_from_url(settings.queue_url, auto_migrate=settings.queue_auto_migrate)
        await store.open()
        metrics = QueueMetrics(app.metrics_registry, store, list(app.actions))
        app.queue = JobQueue(store, app.actions)
        app.health.register("job_queue", metrics.health_check)
        if not settings.worker:
            return Background("queue", None, store.close)
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
        )
        return Background("worker", worker.run(), worker.stop, store.close)

    return start


def plugboard_starter(app: App) -> Starter:
    """Connect a Plugboard consumer when ``settings.plugboard_url`` is set."""

    async def start() -> Background | None:
        settings = app.settings
        if not settings.plugboard_url:
            return None
        from .plugboard.consumer import PlugboardConsumer

        token = settings.plugboard_token.get_secret_value() if settings.plugboard_token else ""
        if not token:
            raise ConfigError(
                "a service API token is required when plugboard_url is set", key="plugboard_token"
            )
        consumer = PlugboardConsumer(
            settings.plugboard_url,
            token,
            app.dispatcher,
            app.actions,
            vsn=settings.plugboard_protocol,
            max_in_flight=settings.plugboard_max_in_flight,
        )
        app.health.register("plugboard", consumer.health)
        return Background("plugboard", consumer.run(), consumer.stop)

    return start
