""":class:`RegistryPlugin`: register this instance, heartbeat, discover the fleet, call other services.

On start it builds this instance's record (name, version, id, host, port, transports, health, start time,
metadata), starts the :class:`~.heartbeat.Heartbeat` thread and waits (bounded) for the first beat, so the
:class:`~.view.Registry` view is filled before the app serves. The ``registry`` health check is GREEN
while heartbeats succeed, YELLOW after one failure and RED after three in a row (usvc-lib's
``mongodb_registry`` check follows it when the store is MongoDB). On a graceful stop it deregisters.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DependencyError
from ..observability.health import HealthStatus
from ..observability.logging import get_logger
from ..plugins import AppInit, Background, Component, Plugin
from .settings import RegistrySettings

# Every app imports this module (a built-in plugin), enabled or not: the registry's own modules are
# imported by the hooks of an enabled registry, never here.
if TYPE_CHECKING:
    import click
    from starlette.routing import BaseRoute

    from ..app import App
    from ..queue.client import JobQueue
    from .heartbeat import Heartbeat
    from .models import Instance
    from .remote import Remote
    from .store import RegistryStore
    from .view import Registry

log = get_logger("plugwork.registry")
FIRST_BEAT_TIMEOUT = 10.0
FAILURES_RED = 3
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")
_SCHEMA_KEYS = ("name", "description", "version", "queue", "input_schema", "output_schema")


class RegistryPlugin(Plugin):
    """The service registry (see the module docstring).

    Built in, so every app has one, enabled by its settings. Configure it in code with
    ``app.plugin(RegistryPlugin).configure(url=..., strategy=...)``; ``store=`` shares one store object
    between apps (tests, single-process set-ups) and enables the registry.
    """

    name = "registry"
    settings_model = RegistrySettings

    def __init__(self, *, store: RegistryStore | None = None, **overrides: Any) -> None:
        super().__init__(**overrides)
        self._shared_store = store
        self.registry: Registry | None = None
        self.instance: Instance | None = None
        self._heartbeat: Heartbeat | None = None

    def configure(self, *, store: RegistryStore | None = None, **overrides: Any) -> RegistryPlugin:
        """Set settings in code (they win over the environment and YAML) before the app starts."""
        if store is not None:
            self._shared_store = store
        self.overrides.update(overrides)
        return self

    @property
    def settings(self) -> RegistrySettings:
        config = self.config
        assert isinstance(config, RegistrySettings)
        return config

    def enabled(self, app: App) -> bool:
        if self._shared_store is not None:
            return True
        if not self.settings.active:
            return False
        from .store import store_class

        store_class(self.settings.store_url)  # a bad URL or a missing extra fails before anything starts
        return True

    def _make_store(self) -> RegistryStore:
        from .store import store_from_url

        if self._shared_store is not None:
            return self._shared_store
        settings = self.settings
        if settings.url is None and settings.mongodb_uri is not None:
            from .stores.mongodb import MongoRegistryStore

            return MongoRegistryStore(
                settings.store_url,
                database=settings.mongodb_database,
                max_pool_size=settings.mongodb_max_pool_size,
                min_pool_size=settings.mongodb_min_pool_size,
            )
        return store_from_url(settings.store_url, database=settings.mongodb_database)

    def on_app_init(self, init: AppInit) -> None:
        from .view import Registry

        app = init.app
        settings = self.settings
        instance_id = uuid.uuid4().hex
        self.registry = Registry(
            strategy=settings.strategy,
            call_timeout=settings.call_timeout_seconds,
            max_connections=settings.max_connections,
            headers=lambda ctx: app.carriers.inject(ctx),
            store=self._make_store,
            queue=lambda: _job_queue(app),
            instance_id=instance_id,
        )
        init.provide(Registry, self.registry)
        # Shown in /health, but not gating readiness: an instance serves its callers while the store is down.
        for name in self._check_names():
            app.health.register(
                name, status=HealthStatus.YELLOW, details={"state": "registering"}, required=False
            )

    def routes(self, app: App) -> Sequence[BaseRoute]:
        token = self.settings.http_token
        if token is None or self.registry is None:
            return []
        from .http import registry_routes

        return registry_routes(self.registry, token.get_secret_value())

    def openapi_paths(self, app: App) -> dict[str, Any]:
        if self.settings.http_token is None or self.registry is None:
            return {}
        from .http import registry_openapi_paths

        return registry_openapi_paths()

    async def start(self, app: App) -> Component | None:
        from .heartbeat import HealthProbe, Heartbeat
        from .models import SchemaRecord, redact_url

        registry = self.registry
        assert registry is not None and registry.instance_id is not None
        loop = asyncio.get_running_loop()
        self.instance = instance = self._instance(app, registry.instance_id)
        heartbeat = self._heartbeat = Heartbeat(
            make_store=self._make_store,
            instance=instance,
            schemas=SchemaRecord(
                instance.service_name,
                instance.service_version,
                tuple({k: entry.get(k) for k in _SCHEMA_KEYS} for entry in app.catalog()),
            ),
            interval=self.settings.heartbeat_seconds,
            ttl=self.settings.ttl_seconds,
            on_beat=lambda fleet, error, failures: self._beat(loop, app, registry, fleet, error, failures),
            # Bounded by the interval: a blocked app loop delays no heartbeat by more than half of one.
            health=HealthProbe(loop, app.health, timeout=min(2.0, self.settings.heartbeat_seconds / 2)),
        )
        heartbeat.start()
        await asyncio.to_thread(heartbeat.first_beat.wait, FIRST_BEAT_TIMEOUT)
        if heartbeat.beats:
            log.info(
                "registered",
                service=instance.service_name,
                instance=instance.instance_id,
                http=redact_url(instance.transports.http or "-"),
            )
        else:  # the app serves anyway; the heartbeat keeps trying and the health check says why
            log.warning("not registered yet", service=instance.service_name, instance=instance.instance_id)

        async def stop() -> None:
            await asyncio.to_thread(heartbeat.stop)

        return Background("registry", None, stop=stop, close=registry.close)

    def _instance(self, app: App, instance_id: str) -> Instance:
        from .models import Instance, Transports

        settings, app_settings = self.settings, app.settings
        host = settings.advertise_host or app_settings.http_host
        if host in _WILDCARDS:
            host = socket.gethostname()
        port = app_settings.http_port
        http = settings.advertise_url or (f"http://{_bracket(host)}:{port}" if port else None)
        queues: tuple[str, ...] = ()
        if app_settings.queue_url not in ("", "none") and app_settings.worker:
            declared = {spec.queue for spec in app.actions.values()} | {"default"}
            queues = tuple(app_settings.queues or sorted(declared))
        return Instance(
            instance_id=instance_id,
            service_name=app.name,
            service_version=app_settings.version,
            host=host,
            port=port,
            transports=Transports(
                http.rstrip("/") if settings.http and http else None,
                queues,
                app.name if app_settings.plugboard_url else None,
            ),
            metadata=settings.metadata,
        )

    def _beat(
        self,
        loop: asyncio.AbstractEventLoop,
        app: App,
        registry: Registry,
        fleet: list[Instance] | None,
        error: str | None,
        failures: int,
    ) -> None:
        """From the heartbeat thread: refresh the view, then the health check on the app's loop."""
        if fleet is not None:
            registry.update(fleet)
        status = (
            HealthStatus.GREEN
            if not failures
            else HealthStatus.YELLOW
            if failures < FAILURES_RED
            else HealthStatus.RED
        )
        details: dict[str, Any] = {"consecutive_failures": failures}
        if error is not None:
            details["error"] = error
        if fleet is not None:
            details["instances"] = len(fleet)
        try:
            for name in self._check_names():
                loop.call_soon_threadsafe(app.health.update, name, status, details)
        except RuntimeError:  # the app's loop is closed: the app is gone
            pass

    def _check_names(self) -> list[str]:
        if self.settings.url is None and self.settings.mongodb_uri is not None and self._shared_store is None:
            return ["registry", "mongodb_registry"]  # usvc-lib's name for the same check
        return ["registry"]

    def cli(self) -> Sequence[click.Command]:
        from .cli import registry_cli

        return [registry_cli]


def _job_queue(app: App) -> JobQueue | None:
    from ..queue.client import JobQueue

    try:
        return app.get(JobQueue)
    except DependencyError:  # the queue is off (queue_url: none)
        return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def registry_of(app: App) -> Registry:
    """The running app's :class:`Registry` (the same object actions get injected by type)."""
    from .view import Registry

    return app.get(Registry)


def remote(app: App, service: str, **options: Any) -> Remote:
    """``registry_of(app).remote(service, ...)``: a client for another service's actions."""
    return registry_of(app).remote(service, **options)
