"""The heartbeat: registration, schema publication, heartbeats and deregistration, in a thread of its own.

The thread runs its own event loop with its own store connection, so a busy or blocked app loop cannot
delay a heartbeat past the TTL (which would drop a live instance from every caller's view). Each beat
publishes the schemas if this connection has not yet, registers the instance with its current health,
and reads back the live fleet for the app's cached view. A failed beat drops the connection; the next
opens a new one. ``stop()`` ends the loop and deregisters, each step bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

import orjson

from ..observability.health import HealthRegistry
from ..observability.logging import get_logger
from .models import Instance, SchemaRecord
from .store import RegistryStore

log = get_logger("plugwork.registry")
STEP_TIMEOUT = 10.0
"""The most one store step (open, publish, register, read, deregister) may take."""
MAX_HEALTH_BYTES = 16 * 1024
BeatListener = Callable[[list[Instance] | None, str | None, int], None]
"""Called after each beat from the heartbeat thread: (fleet or None, error or None, consecutive failures)."""


class HealthProbe:
    """The app's health for each heartbeat, taken on the app's loop within ``timeout``.

    When the app loop does not answer in time (it is blocked), the last known health is sent, so the
    heartbeat itself never waits on the app. ``exclude`` leaves out checks about the registry itself.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        health: HealthRegistry,
        *,
        timeout: float = 2.0,
        exclude: tuple[str, ...] = ("registry", "mongodb_registry"),
    ) -> None:
        self._loop = loop
        self._health = health
        self._timeout = timeout
        self._exclude = exclude
        self.last: tuple[str, dict[str, Any]] = ("YELLOW", {})  # not known until a report comes

    def __call__(self) -> tuple[str, dict[str, Any]]:
        report_coro = self._health.report()
        try:
            future = asyncio.run_coroutine_threadsafe(report_coro, self._loop)
        except RuntimeError:  # the app loop is closed
            report_coro.close()
            return self.last
        try:
            report = future.result(timeout=self._timeout)
        except FutureTimeout:
            future.cancel()
            return self.last
        except Exception as exc:
            log.warning("health report failed", error=f"{type(exc).__name__}: {exc}")
            return self.last
        checks = {name: check for name, check in report.checks.items() if name not in self._exclude}
        worst = min((c["status"] for c in checks.values()), key=_RANK.__getitem__, default="GREEN")
        if len(orjson.dumps(checks, default=str)) > MAX_HEALTH_BYTES:
            checks = {name: {"status": c["status"]} for name, c in checks.items()}
        self.last = (worst, checks)
        return self.last


_RANK = {"RED": 0, "YELLOW": 1, "GREEN": 2}


class Heartbeat:
    """Keeps one instance registered from a daemon thread (see the module docstring)."""

    def __init__(
        self,
        *,
        make_store: Callable[[], RegistryStore],
        instance: Instance,
        schemas: SchemaRecord | None,
        interval: float,
        ttl: float,
        on_beat: BeatListener,
        health: Callable[[], tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.instance = instance
        self._make_store = make_store
        self._schemas = schemas
        self.interval = interval
        self.ttl = ttl
        self._on_beat = on_beat
        self._health = health
        self.failures = 0
        self.beats = 0
        self.first_beat = threading.Event()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"plugwork-heartbeat-{instance.service_name}", daemon=True
        )

    def start(self) -> None:
        """Start the thread; its first beat registers the instance (see :attr:`first_beat`)."""
        self._thread.start()

    def stop(self, timeout: float = 2 * STEP_TIMEOUT) -> None:
        """Stop beating, deregister and close the store; wait up to ``timeout`` seconds (blocking)."""
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the thread's loop already ended
                loop.call_soon_threadsafe(wake.set)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("heartbeat thread did not stop in time", timeout=timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        store: RegistryStore | None = None
        published = False
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                if store is None:
                    store = self._make_store()
                    await _bounded(store.open())
                    published = False  # a new connection may reach a store that lost its data
                if self._schemas is not None and not published:
                    await _bounded(store.publish_schemas(self._schemas, self.ttl))
                    published = True
                await _bounded(store.register(self._current(), self.ttl))
                fleet = await _bounded(store.instances())
            except Exception as exc:
                self.failures += 1
                error = f"{type(exc).__name__}: {exc}"
                log.warning("registry heartbeat failed", failures=self.failures, error=error)
                self._notify(None, error)
                if store is not None:
                    await _close(store)
                    store = None
            else:
                self.failures = 0
                self.beats += 1
                self._notify(fleet, None)
            self.first_beat.set()
            left = self.interval - (time.monotonic() - began)
            if left > 0 and not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=left)
        await self._deregister(store)

    def _current(self) -> Instance:
        if self._health is None:
            return self.instance
        status, checks = self._health()
        return replace(self.instance, health_status=status, health_checks=checks)

    def _notify(self, fleet: list[Instance] | None, error: str | None) -> None:
        try:
            self._on_beat(fleet, error, self.failures)
        except Exception as exc:  # a listener's bug must not stop the heartbeat
            log.error("heartbeat listener failed", error=f"{type(exc).__name__}: {exc}")

    async def _deregister(self, store: RegistryStore | None) -> None:
        try:
            if store is None:
                store = self._make_store()
                await _bounded(store.open())
            await _bounded(store.deregister(self.instance.instance_id))
            log.info("deregistered", service=self.instance.service_name, instance=self.instance.instance_id)
        except Exception as exc:
            log.warning(
                "deregistration failed; the record expires by its TTL", error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            if store is not None:
                await _close(store)


async def _bounded(step: Any) -> Any:
    async with asyncio.timeout(STEP_TIMEOUT):
        return await step


async def _close(store: RegistryStore) -> None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            await store.close()
    except Exception as exc:
        log.warning("registry store close failed", error=f"{type(exc).__name__}: {exc}")
