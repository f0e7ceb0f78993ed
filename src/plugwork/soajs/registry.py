"""The registry manager: the gateway's registry for one service, loaded, reloaded and kept safe.

Readers (every request) read one attribute, swapped whole by a reload: never a lock, never a wait, so an
ASGI event loop is never blocked. Reloads are claimed under a lock (one at a time, at most one a second),
fetch over HTTP with a timeout and a size limit, and run either in the caller's thread (:meth:`reload`),
on the event loop without blocking it (:meth:`areload`), or in the auto-reload thread at the period the
registry itself asks for (``serviceConfig.awareness.autoReloadRegistry``, or SOAJS's own spelling
``autoRelaodRegistry``). A failed reload keeps the last good registry and turns :meth:`health` YELLOW; a
failed first load raises :class:`RegistryError` naming the URL and the gateway's error codes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..observability.health import HealthStatus
from ..observability.logging import get_logger
from .config import Config
from .exceptions import (
    CustomNotFoundError,
    DatabaseNotFoundError,
    RegistryError,
    ResourceNotFoundError,
    ServiceNotFoundError,
)
from .models import CustomRegistry, Database, Registry, Resource, Service
from .registration import Registrar
from .settings import CHECK_INTERVAL
from .wire import RegistryApi

log = get_logger("plugwork.soajs.registry")
MIN_RELOAD_INTERVAL = 1.0


def deploy_manual() -> bool:
    """Whether ``SOAJS_DEPLOY_MANUAL`` asks services to register themselves."""
    return os.environ.get("SOAJS_DEPLOY_MANUAL", "").strip().lower() in ("1", "true", "yes", "on")


def default_ip() -> str:
    """The address the gateway reaches this service at: ``SOAJS_SRVIP``, else 127.0.0.1."""
    return os.environ.get("SOAJS_SRVIP") or "127.0.0.1"


class RegistryManager:
    """The SOAJS registry of ``service_name`` in environment ``env_code`` (default ``SOAJS_ENV``).

    Loads at construction unless ``load=False`` (then call :meth:`load` or ``await``:meth:`aload`), and
    starts the auto-reload thread when ``auto_reload``. ``registry_api`` is ``host:port`` (default
    ``SOAJS_REGISTRY_API``). ``stop()`` ends the thread; the manager is also a context manager.

    With ``SOAJS_DEPLOY_MANUAL`` set and a ``service_port``, the service registers itself (soajs-python's
    manual deployment, with ``service_group``/``service_version``/``config``) and is registered again
    whenever the gateway forgets it.
    """

    def __init__(
        self,
        service_name: str,
        env_code: str | None = None,
        service_type: str = "service",
        auto_reload: bool = True,
        *,
        registry_api: str | None = None,
        timeout: float = 10.0,
        load: bool = True,
        transport: Any = None,
        clock: Callable[[], float] = time.monotonic,
        service_port: int | None = None,
        service_ip: str | None = None,
        service_group: str | None = None,
        service_version: str | None = None,
        config: Config | dict[str, Any] | None = None,
        register_check_seconds: float = CHECK_INTERVAL,
    ) -> None:
        self.service_name = service_name
        self.env_code = (env_code or os.environ.get("SOAJS_ENV") or "dev").lower()
        self.service_type = service_type
        self.auto_reload = auto_reload
        self.api = RegistryApi(registry_api or os.environ.get("SOAJS_REGISTRY_API"), timeout, transport)
        self._clock = clock
        self._claim_lock = threading.Lock()
        self._reloading = False
        self._last_attempt: float | None = None
        self._registry: Registry | None = None
        self.last_error: str | None = None
        self.last_success: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registrar: Registrar | None = None
        self.register_check_seconds = register_check_seconds
        if deploy_manual() and service_port is None and load:
            log.warning("SOAJS_DEPLOY_MANUAL is set but no service_port was given: not registering")
        if deploy_manual() and service_port is not None:
            # soajs-python's manual deployment: register with the gateway (with `mw`, which it forgot).
            fields = config.model_dump(by_alias=True) if isinstance(config, Config) else dict(config or {})
            fields.update(name=service_name, port=service_port, type=service_type)
            fields.setdefault("group", service_group or "plugwork")
            fields.setdefault("version", service_version or "1")
            self.registrar = Registrar(self.api, Config(**fields), service_ip or default_ip())
        if load:
            self.load()
            if self.registrar is not None:
                self.registrar.register_sync()
            if auto_reload or self.registrar is not None:
                self.start_auto_reload()

    # ------------------------------------------------------------------------------------------ loading
    @property
    def params(self) -> dict[str, str]:
        """The ``getRegistry`` query."""
        return {"env": self.env_code, "serviceName": self.service_name, "type": self.service_type}

    def load(self) -> Registry:
        """The first load: raises :class:`RegistryError` (URL and gateway codes) when it fails."""
        self._note_attempt()
        return self._store(self.api.get_registry(self.params))

    async def aload(self) -> Registry:
        """:meth:`load` without blocking the event loop."""
        self._note_attempt()
        return self._store(await self.api.aget_registry(self.params))

    def reload(self, *, force: bool = False) -> bool:
        """Fetch the registry again. False when throttled (under a second since the last attempt, or one
        already running) or failed — then the last good registry stays and :attr:`last_error` says why."""
        if not self._claim(force=force):
            return False
        try:
            self._store(self.api.get_registry(self.params))
        except RegistryError as exc:
            return self._failed(exc)
        finally:
            self._release()
        return True

    async def areload(self, *, force: bool = False) -> bool:
        """:meth:`reload` without blocking the event loop."""
        if not self._claim(force=force):
            return False
        try:
            self._store(await self.api.aget_registry(self.params))
        except RegistryError as exc:
            return self._failed(exc)
        finally:
            self._release()
        return True

    def _claim(self, *, force: bool) -> bool:
        # `force` skips the one-second throttle, never the one-reload-at-a-time rule.
        with self._claim_lock:
            now = self._clock()
            last = self._last_attempt
            if self._reloading or (not force and last is not None and now - last < MIN_RELOAD_INTERVAL):
                return False
            self._reloading, self._last_attempt = True, now
            return True

    def _note_attempt(self) -> None:
        with self._claim_lock:
            self._last_attempt = self._clock()

    def _release(self) -> None:
        with self._claim_lock:
            self._reloading = False

    def _store(self, registry: Registry) -> Registry:
        registry.service_type = self.service_type
        self._registry = registry  # one reference swap: readers never see half a registry
        self.last_error, self.last_success = None, self._clock()
        return registry

    def _failed(self, exc: RegistryError) -> bool:
        self.last_error = str(exc)
        log.warning("SOAJS registry reload failed; keeping the last good registry", error=str(exc))
        return False

    # ------------------------------------------------------------------------------------- auto-reload
    @property
    def reload_period(self) -> float:
        """Seconds between automatic reloads: the registry's own period, never under one second."""
        registry = self._registry
        period_ms = registry.reload_period_ms if registry is not None else 3_600_000
        return max(period_ms / 1000.0, MIN_RELOAD_INTERVAL)

    def start_auto_reload(self) -> None:
        """Start the auto-reload thread (once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._auto_reload, name="soajs-registry-reload", daemon=True)
        self._thread.start()

    def _auto_reload(self) -> None:
        # One thread: reloads at the registry's period and, when registered, checks every few seconds that
        # the gateway still lists this host (it forgets them when it restarts).
        step = self.register_check_seconds if self.registrar is not None else None
        next_reload = self._clock() + self.reload_period
        while not self._stop.wait(step if step is not None else self.reload_period):
            if self.registrar is not None:
                self.registrar.check_sync()
            if self.auto_reload and self._clock() >= next_reload:
                self.reload()
                next_reload = self._clock() + self.reload_period

    def stop(self) -> None:
        """Stop the auto-reload thread (waits for it up to the fetch timeout) and close the HTTP clients."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.api.timeout + 1)
        self.api.close()

    async def astop(self) -> None:
        """:meth:`stop` without blocking the event loop (the thread may be mid-fetch), then close the async
        HTTP client."""
        await asyncio.to_thread(self.stop)
        await self.api.aclose()

    def __enter__(self) -> RegistryManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------- reading
    @property
    def current(self) -> Registry | None:
        """The registry now, or None before the first load."""
        return self._registry

    @property
    def registry(self) -> Registry:
        """The registry now; :class:`RegistryError` before the first load."""
        registry = self._registry
        if registry is None:
            raise RegistryError("the SOAJS registry is not loaded", url=self.api.url)
        return registry

    def get_database(self, name: str) -> Database:
        """A core or tenant-meta database by name."""
        registry = self.registry
        found = registry.core_dbs.get(name) or registry.tenant_meta_dbs.get(name)
        if found is None:
            raise DatabaseNotFoundError(f"Database not found: {name}")
        return found

    def get_all_databases(self) -> dict[str, Database]:
        """Every core and tenant-meta database."""
        registry = self.registry
        return {**registry.core_dbs, **registry.tenant_meta_dbs}

    def get_service(self, name: str) -> Service:
        """A service by name."""
        found = self.registry.services.get(name)
        if found is None:
            raise ServiceNotFoundError(f"Service not found: {name}")
        return found

    def get_resource(self, name: str) -> Resource:
        """A resource by name, whatever its type."""
        for by_name in self.registry.resources.values():
            if name in by_name:
                return by_name[name]
        raise ResourceNotFoundError(f"Resource not found: {name}")

    def get_custom(self, name: str = "") -> Any:
        """soajs-python's shape: one custom entry as a dict (``name``), or all of them (no name)."""
        custom = self.registry.custom
        if name:
            if name not in custom:
                raise CustomNotFoundError(f"Custom registry not found: {name}")
            return custom[name].model_dump(by_alias=True)
        if not custom:
            raise CustomNotFoundError("No custom registries found")
        return {key: value.model_dump(by_alias=True) for key, value in custom.items()}

    def get_custom_entry(self, name: str) -> CustomRegistry:
        """One custom entry as its typed model."""
        found = self.registry.custom.get(name)
        if found is None:
            raise CustomNotFoundError(f"Custom registry not found: {name}")
        return found

    def health(self) -> tuple[HealthStatus, dict[str, Any]]:
        """GREEN when loaded and the last reload worked, YELLOW on a stale registry, RED when none."""
        registry = self._registry
        if registry is None:
            return HealthStatus.RED, {"error": self.last_error or "not loaded", "url": self.api.url}
        details: dict[str, Any] = {"environment": self.env_code, "time_loaded": registry.time_loaded}
        if self.last_error is not None:
            age = self._clock() - self.last_success if self.last_success is not None else None
            return HealthStatus.YELLOW, {**details, "error": self.last_error, "stale_seconds": age}
        return HealthStatus.GREEN, details
