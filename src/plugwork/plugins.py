"""The extension seam: :class:`Plugin`, and what a plugin may add to an app.

A feature (the job queue, the Plugboard consumer, dev mode, the management API, and every integration)
is a plugin. Its hooks, all optional:

- ``settings_model``: its own settings, validated at each start from the ``plugins.<name>:`` YAML section,
  the environment and the plugin's constructor keywords (:class:`~plugwork.config.PluginSettings`);
- :meth:`Plugin.enabled`: whether it takes part in this start (built-in plugins decide from settings);
- :meth:`Plugin.on_app_init`: add services, middleware, providers, carriers and health checks through an
  :class:`AppInit`, made anew at each start, so that an app can start, stop and start again;
- :meth:`Plugin.routes` / :meth:`Plugin.openapi_paths` / :meth:`Plugin.openapi` /
  :meth:`Plugin.asgi_middleware`: HTTP;
- :meth:`Plugin.start`: a long-running :class:`Component`, started after services and stopped before them;
- :meth:`Plugin.cli`: commands for the ``plugwork`` CLI.

The app never names a feature: it runs the plugins it has, the built-in ones listed in
:data:`BUILTIN_PLUGINS` first. Installed packages may publish plugin classes under the entry-point group
``plugwork.plugins`` to add CLI commands.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel

from .observability.logging import get_logger

if TYPE_CHECKING:
    import click
    from starlette.routing import BaseRoute

    from .app import App
    from .carriers import Carrier
    from .config import Settings
    from .dispatch import Middleware
    from .observability.health import Check
    from .services import Service

__all__ = [
    "BUILTIN_PLUGINS",
    "AppInit",
    "Background",
    "Component",
    "Plugin",
    "builtin_plugins",
    "cli_plugins",
]

log = get_logger("plugwork.plugins")
T = TypeVar("T")
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

BUILTIN_PLUGINS = (
    "plugwork.queue.plugin:QueuePlugin",
    "plugwork.queue.dev:DevPlugin",
    "plugwork.plugboard.plugin:PlugboardPlugin",
    "plugwork.http.management:ManagementPlugin",
    "plugwork.service_routes:ServiceRoutesPlugin",
    "plugwork.registry.plugin:RegistryPlugin",
    "plugwork.soajs.plugin:SoajsPlugin",
    "plugwork.observability.tracing_plugin:TracingPlugin",
)
"""Plugins every app has; each enables itself from settings."""

ENTRY_POINT_GROUP = "plugwork.plugins"


class Component(Protocol):
    """Something long-running that a plugin started: the app stops it before stopping services."""

    async def stop(self) -> None: ...


class Plugin:
    """Base class of plugins: override the hooks you need (see the module docstring)."""

    name: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides
        """Settings given in code; they win over the environment and the YAML file."""
        self.config: Any = None
        """The validated ``settings_model`` instance, loaded at each start (None without a model)."""

    def enabled(self, app: App) -> bool:
        """Whether this plugin takes part in the app's current start (``self.config`` is loaded)."""
        return True

    def on_app_init(self, init: AppInit) -> None:
        """Add services, middleware, providers, carriers and health checks for this start."""

    def routes(self, app: App) -> Sequence[BaseRoute]:
        """Starlette routes to serve, built once after the app has started."""
        return ()

    def openapi_paths(self, app: App) -> dict[str, Any]:
        """OpenAPI ``paths`` entries describing :meth:`routes`."""
        return {}

    def openapi(self, app: App, document: dict[str, Any]) -> None:
        """Edit the finished OpenAPI document in place (security schemes, per-operation security...)."""

    def asgi_middleware(self, app: App) -> Sequence[Callable[[ASGIApp], ASGIApp]]:
        """Pure-ASGI wrappers put around the app's whole HTTP transport (outermost first)."""
        return ()

    async def start(self, app: App) -> Component | None:
        """Start the long-running part, after services have started; None if there is none."""
        return None

    def cli(self) -> Sequence[click.Command]:
        """Commands or groups to mount on the ``plugwork`` CLI."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class AppInit:
    """What a plugin may add to one start of an app (given to :meth:`Plugin.on_app_init`)."""

    def __init__(self, app: App, plugin: Plugin) -> None:
        self.app = app
        self.plugin = plugin
        self.services: list[type[Service] | Service] = []
        self.middleware: list[Middleware] = []
        self.outer_middleware: list[Middleware] = []
        self.provided: dict[type, Any] = {}
        self.carriers: list[Carrier] = []

    @property
    def settings(self) -> Settings:
        """The app's settings for this start."""
        return self.app.settings

    @property
    def config(self) -> Any:
        """The plugin's own validated settings."""
        return self.plugin.config

    def add_service(self, service: type[Service] | Service) -> None:
        """Register a service (a type or an instance) with the container."""
        self.services.append(service)

    def add_middleware(self, middleware: Middleware, *, outermost: bool = False) -> None:
        """App-wide middleware: inside the metrics middleware, or outside everything with ``outermost``."""
        (self.outer_middleware if outermost else self.middleware).append(middleware)

    def provide(self, kind: type[T], value: T) -> None:
        """Make ``value`` injectable by type (and reachable through ``app.get(kind)``)."""
        self.provided[kind] = value

    def add_carrier(self, carrier: Carrier) -> None:
        """Carry more context across transports (see :mod:`plugwork.carriers`)."""
        self.carriers.append(carrier)

    def add_health_check(self, name: str, check: Check, *, required: bool = True) -> None:
        """Report ``check`` under ``name`` in ``/health`` (and ``/health/ready`` when required)."""
        self.app.health.register(name, check, required=required)


class Background:
    """A ready :class:`Component`: a running coroutine, how to stop it gracefully, what to close after."""

    def __init__(
        self,
        name: str,
        run: Coroutine[Any, Any, Any] | None,
        stop: Callable[[], Awaitable[Any]],
        close: Callable[[], Awaitable[Any]] | None = None,
        *,
        stop_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self._stop = stop
        self._close = close
        self._stop_timeout = stop_timeout
        self.task = asyncio.create_task(run, name=f"plugwork-{name}") if run is not None else None
        if self.task is not None:
            self.task.add_done_callback(self._report)

    def _report(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background component crashed", component=self.name, error=repr(task.exception()))

    async def stop(self) -> None:
        """Stop gracefully, cancel the task if it outlives that by ``stop_timeout``, then close."""
        try:
            await self._stop()
            if self.task is not None and not self.task.done():
                await asyncio.wait_for(asyncio.shield(self.task), timeout=self._stop_timeout)
        except TimeoutError:
            if self.task is not None:
                self.task.cancel()
        finally:
            if self._close is not None:
                await self._close()


def _load(path: str) -> type[Plugin]:
    module, _, attr = path.partition(":")
    plugin = getattr(importlib.import_module(module), attr)
    assert isinstance(plugin, type) and issubclass(plugin, Plugin), path
    return plugin


def builtin_plugins() -> list[Plugin]:
    """A fresh instance of every built-in plugin."""
    return [_load(path)() for path in BUILTIN_PLUGINS]


def cli_plugins() -> list[Plugin]:
    """The plugins whose CLI commands the ``plugwork`` command mounts: built-in, then installed ones."""
    plugins = builtin_plugins()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            kind = entry.load()
            plugins.append(kind())
        except Exception as exc:  # a broken third-party plugin must not break the whole CLI
            log.warning("plugin failed to load", entry_point=entry.name, error=str(exc))
    return plugins
