"""The :class:`App`: the one explicit object owning actions, services, middleware, settings, transports."""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .actions import Action, bind
from .carriers import Carriers
from .config import Settings, load_plugin_settings, load_settings
from .context import Context
from .discovery import Source, discover
from .dispatch import Dispatcher, Invocation, Middleware, Outcome
from .errors import ActionError, ConfigError, DefinitionError, DependencyError
from .middleware import RateLimit
from .observability.health import HealthRegistry, HealthStatus
from .observability.logging import get_logger
from .observability.metrics import Collectors, InvocationMetrics, MetricsCollector
from .plugins import AppInit
from .services import Container, Service


class Enqueuer(Protocol):
    """What :meth:`App.enqueue` delegates to; a plugin provides it (the job queue, by default)."""

    async def enqueue(self, action: str, payload: Any = None, **options: Any) -> str: ...


if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .plugins import Component, Plugin

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
S = TypeVar("S", bound=Service)
log = get_logger("plugwork.app")


class AppState(StrEnum):
    """Where an :class:`App` is in its lifecycle (``failed`` keeps the reason in ``App.failure``)."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class App:
    """A Plugwork application.

    ``actions`` lists where actions come from (module or package names, directories, functions, classes);
    they are discovered when first needed, never at import. ``services`` are registered up front; services
    that actions or other services ask for by type are registered automatically. Settings come from
    ``settings`` or are loaded (environment, ``.env``, YAML ``config_file``) when the app starts.

    ``plugins`` add features (see :mod:`plugwork.plugins`); the built-in ones (job queue, Plugboard consumer,
    dev mode, management API) are always there and enable themselves from settings.

    Use it as an async context manager, or serve it: ``app.run()`` / ``plugwork run module:app``. An app can
    be started again after it stopped (tests, reloads).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        actions: Iterable[Source] = (),
        services: Iterable[type[Service] | Service] = (),
        middleware: Sequence[Middleware] = (),
        settings: Settings | None = None,
        config_file: str | Path | None = None,
        plugins: Iterable[Plugin] = (),
    ) -> None:
        self._name = name
        self._sources: list[Source] = list(actions)
        self._services = list(services)
        self._middleware = list(middleware)
        self._settings = settings
        self._explicit_settings = settings
        self._config_file = config_file
        self._overrides: dict[str, Any] = {}
        self._actions: dict[str, Action] | None = None
        self._provided: dict[type, Any] = {}
        self.state = AppState.CREATED
        self.failure: str | None = None
        self.health = HealthRegistry()
        self._collectors = Collectors()
        self.metrics = InvocationMetrics()
        self._collectors.add(self.metrics)
        self.container: Container | None = None
        self._dispatcher: Dispatcher | None = None
        self._plugins: list[Plugin] = list(plugins)
        self._builtins: list[Plugin] | None = None
        self.active_plugins: list[Plugin] = []
        """The plugins taking part in the current start, built-in ones first."""
        self.carriers = Carriers()
        """How context travels across transports (rebuilt at each start from the plugins' carriers)."""
        self.generation = 0
        """How many times the app has started (completely): transports rebuild what they cached before."""
        self._components: list[Component] = []  # the plugins' running parts: worker, consumer...
        self._asgi: Any = None

    # ------------------------------------------------------------------------------------------ definition
    @property
    def name(self) -> str:
        return self._name or self.settings.name

    @property
    def metrics_registry(self) -> CollectorRegistry:
        """The app's prometheus-client registry, served at ``/metrics``: register your own metrics on it.

        Made when first asked for (prometheus-client is imported then, not at start-up): plugins add their
        collectors with :meth:`add_metrics_collector` instead.
        """
        return self._collectors.registry

    def add_metrics_collector(self, collector: MetricsCollector) -> None:
        """Serve ``collector``'s metrics at ``/metrics`` (its ``collect()`` yields prometheus-client metric
        families at each scrape) without importing prometheus-client before the first scrape."""
        self._collectors.add(collector)

    @property
    def settings(self) -> Settings:
        """The settings, loaded on first use if none were given."""
        if self._settings is None:
            overrides = dict(self._overrides)
            if self._explicit_settings is not None:
                # configure() (the CLI, the test client) adds to the settings given, never drops them.
                given = self._explicit_settings
                overrides = {**{key: getattr(given, key) for key in given.model_fields_set}, **overrides}
            if self._name and "name" not in overrides:
                overrides["name"] = self._name
            self._settings = load_settings(self._config_file, **overrides)
        return self._settings

    def configure(self, config_file: str | Path | None = None, **overrides: Any) -> App:
        """Set the config file and setting overrides (the CLI's options) while the app is not running."""
        if self.state not in (AppState.CREATED, AppState.STOPPED, AppState.FAILED):
            raise DefinitionError("configure() must be called while the app is not running")
        if config_file is not None:
            self._config_file = config_file
        self._overrides.update({k: v for k, v in overrides.items() if v is not None})
        self._settings = None
        return self

    @contextmanager
    def overridden(
        self,
        config_file: str | Path | None = None,
        *,
        provide: Mapping[type, Any] | None = None,
        **settings: Any,
    ) -> Iterator[App]:
        """Settings and injected values for the duration of a block (a test), restored after it.

        ``provide`` maps types to the values injected in their place (fakes). The app must not be running.
        """
        before = (self._config_file, dict(self._overrides), dict(self._provided))
        self.configure(config_file, **settings)
        self._provided.update(provide or {})
        try:
            yield self
        finally:
            self._config_file, self._overrides, self._provided = before
            self._settings = None

    def action(self, name: Any = None, /, **options: Any) -> Any:
        """Register a function as an action of this app (same options as :func:`plugwork.action`)."""
        from .actions import action as mark

        def register(fn: F) -> F:
            marked = mark(name, **options)(fn) if not callable(name) else mark(fn)
            self.add_action(marked)
            return marked

        return register(name) if callable(name) else register

    def add_action(self, source: Source) -> None:
        """Add an action source (function, class, module, package, directory) before the app starts."""
        self._sources.append(source)
        self._actions = None

    @classmethod
    async def create(cls, config_file: str | Path | None = None, **options: Any) -> App:
        """An app whose settings are loaded (and checked) now: Processpype's ``Application.create``."""
        app = cls(config_file=config_file, **options)
        app.settings  # noqa: B018 - loads and validates, so a bad config fails here
        return app

    def register_service(self, service: type[S] | S) -> S:
        """Add a service and return its instance (a class is built without arguments): Processpype-style.

        Like :meth:`add_service`, it takes effect when the app (next) starts.
        """
        instance = service() if isinstance(service, type) else service
        self.add_service(instance)
        return instance

    @property
    def registered_services(self) -> list[type[Service] | Service]:
        """The services added before start (classes or instances)."""
        return list(self._services)

    def add_service(self, service: type[Service] | Service) -> None:
        self._services.append(service)

    def add_plugin(self, plugin: Plugin) -> None:
        """Add a plugin before the app starts (see :mod:`plugwork.plugins`).

        A plugin named like a built-in one replaces it: ``app.add_plugin(TracingPlugin(sampler=...))``.
        """
        if any(p.name and p.name == plugin.name for p in self._plugins):
            raise DefinitionError(f"a plugin named {plugin.name!r} is already added")
        self._plugins.append(plugin)

    @property
    def plugins(self) -> list[Plugin]:
        """Every plugin of the app, built-in ones first (unless replaced by name), enabled or not."""
        if self._builtins is None:
            from .plugins import builtin_plugins

            self._builtins = builtin_plugins()
        replaced = {p.name for p in self._plugins if p.name}
        return [*(b for b in self._builtins if b.name not in replaced), *self._plugins]

    def plugin(self, kind: type[T]) -> T:
        """The app's plugin of type ``kind``; raises ``LookupError`` when it has none."""
        for candidate in self.plugins:
            if isinstance(candidate, kind):
                return candidate
        raise LookupError(f"the app has no {kind.__name__}")

    def add_middleware(self, middleware: Middleware) -> None:
        """Add app-wide middleware (outermost first). Takes effect at start."""
        self._middleware.append(middleware)

    def provide(self, kind: type[Any], value: Any) -> None:
        """Make ``value`` injectable by type into actions and services."""
        self._provided[kind] = value

    @property
    def actions(self) -> Mapping[str, Action]:
        """The app's actions, discovered on first use."""
        if self._actions is None:
            self._actions = discover(self._sources)
        return self._actions

    def catalog(self) -> list[dict[str, Any]]:
        """Every action's name, description, version and input/output JSON Schema."""
        return [spec.describe() for spec in sorted(self.actions.values(), key=lambda s: s.name)]

    # ------------------------------------------------------------------------------------------- lifecycle
    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("the app is not started: use `async with app:` or `await app.start()`")
        return self._dispatcher

    @property
    def ready(self) -> bool:
        return self.state is AppState.RUNNING

    async def start(self) -> None:
        """Discover, resolve and start everything; on failure stop what started and raise."""
        if self.state is AppState.RUNNING:
            return
        self.state, self.failure = AppState.STARTING, None
        try:
            await self._start()
        except BaseException as exc:
            self.state, self.failure = AppState.FAILED, str(exc)
            await self._stop_components()
            if self.container is not None:
                await self.container.stop_all()
            log.error("app start failed", app=self.name, error=str(exc))
            raise
        self.state = AppState.RUNNING
        log.info("app started", app=self.name, actions=len(self.actions))

    async def _start(self) -> None:
        settings = self.settings
        actions = self.actions
        active = self.active_plugins = self._enabled_plugins(settings)
        inits = [AppInit(self, plugin) for plugin in active]
        for init in inits:
            init.plugin.on_app_init(init)
        container = self.container = Container(self.health, sections=dict(settings.services))
        container.provide(Settings, settings)
        container.provide(App, self)
        for kind, value in {**self._plugin_provided(inits), **self._provided}.items():
            container.provide(kind, value)
        for svc in [*self._services, *(svc for init in inits for svc in init.services)]:
            container.register(svc)
        container.build_all()
        self.carriers = Carriers(carrier for init in inits for carrier in init.carriers)
        terminals = {name: bind(spec, container.resolve) for name, spec in actions.items()}
        await container.configure_all()
        self.metrics.prepare(list(actions))
        middleware = [
            *(mw for init in inits for mw in init.outer_middleware),
            self.metrics.middleware,
            *(mw for init in inits for mw in init.middleware),
            *self._middleware,
        ]
        self._dispatcher = Dispatcher.build(
            {name: self._with_builtin_middleware(spec) for name, spec in actions.items()},
            terminals,
            middleware,
            timeouts={
                name: spec.timeout or settings.action_timeout_seconds for name, spec in actions.items()
            },
        )
        self.health.register("app", self._app_health)
        await container.start_all()
        for plugin in active:
            component = await plugin.start(self)
            if component is not None:
                self._components.append(component)
        self.generation += 1

    def preflight(self) -> None:
        """Load the settings and decide which plugins take part, raising what would stop the start.

        The CLI calls it before serving, so that a bad setting or a missing extra is one clear line
        (``MissingDependency: asyncpg is not installed: pip install 'plugwork[postgres]'``), not a traceback.
        """
        self._enabled_plugins(self.settings)

    def _enabled_plugins(self, settings: Settings) -> list[Plugin]:
        active = []
        for plugin in self.plugins:
            model = plugin.settings_model
            plugin.config = None
            if model is not None:
                plugin.config = load_plugin_settings(model, plugin.name, settings, plugin.overrides)
            if plugin.enabled(self):
                active.append(plugin)
        known = {plugin.name for plugin in self.plugins}
        for name in settings.plugins:
            if name not in known:
                raise ConfigError("no such plugin in this app", key=f"plugins.{name}")
        return active

    @staticmethod
    def _plugin_provided(inits: list[AppInit]) -> dict[type, Any]:
        return {kind: value for init in inits for kind, value in init.provided.items()}

    def get(self, kind: type[T]) -> T:
        """The running app's instance of ``kind``: a service, or a value provided by the app or a plugin."""
        if self.container is None:
            raise RuntimeError("the app is not started: use `async with app:` or `await app.start()`")
        value: T = self.container.resolve(kind)
        return value

    def _with_builtin_middleware(self, spec: Action) -> Action:
        from dataclasses import replace

        if not spec.rate_limit:
            return spec
        return replace(spec, middleware=(RateLimit(spec.rate_limit), *spec.middleware))

    def _app_health(self) -> tuple[HealthStatus, dict[str, Any]]:
        if self.state is AppState.RUNNING:
            return HealthStatus.GREEN, {"state": self.state.value}
        return HealthStatus.RED if self.state is AppState.FAILED else HealthStatus.YELLOW, {
            "state": self.state.value,
            **({"error": self.failure} if self.failure else {}),
        }

    async def stop(self) -> None:
        """Stop transports (letting in-flight work finish), then services in reverse start order."""
        if self.state in (AppState.STOPPED, AppState.CREATED):
            return
        self.state = AppState.STOPPING
        await self._stop_components()
        if self.container is not None:
            await self.container.stop_all()
        self.state = AppState.STOPPED
        log.info("app stopped", app=self.name)

    async def _stop_components(self) -> None:
        for component in reversed(self._components):
            try:
                await component.stop()
            except Exception as exc:
                log.error("component stop failed", component=type(component).__name__, error=str(exc))
        self._components.clear()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------------- invocations
    async def invoke(
        self, action: str, payload: bytes | Mapping[str, Any] | None = None, *, context: Context | None = None
    ) -> Outcome:
        """Run one action through the full pipeline and return its :class:`Outcome`."""
        ctx = context or Context(transport="call")
        return await self.dispatcher.dispatch(Invocation(action, {} if payload is None else payload, ctx))

    async def call(self, action: str, payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
        """Run one action and return its output; an error outcome raises :class:`ActionError`."""
        outcome = await self.invoke(action, {**(payload or {}), **fields})
        if outcome.error is not None:
            err = outcome.error
            raise ActionError(err.message, code=err.code, details=err.details, status=err.status)
        return outcome.output

    async def enqueue(self, action: str, payload: Mapping[str, Any] | None = None, **options: Any) -> str:
        """Run ``action`` later as a durable job and return the job's id.

        Delegates to the :class:`Enqueuer` a plugin provides (the job queue; see its ``enqueue`` options).
        """
        enqueuer = self._enqueuer()
        if enqueuer is None:
            raise RuntimeError("no job queue: the app is not started, or its queue is disabled")
        return await enqueuer.enqueue(action, dict(payload or {}), **options)

    def _enqueuer(self) -> Enqueuer | None:
        if self.container is None or self.state is not AppState.RUNNING:
            return None
        try:
            enqueuer: Enqueuer = self.container.resolve(Enqueuer)
        except DependencyError:
            return None
        return enqueuer

    # ------------------------------------------------------------------------------------------- serving
    @property
    def asgi(self) -> Any:
        """The ASGI application (HTTP + lifespan) serving this app."""
        if self._asgi is None:
            from .http import HttpTransport

            self._asgi = HttpTransport(self)
        return self._asgi

    @functools.cached_property
    def api(self) -> Any:
        """:attr:`asgi` with the services' own routes served even before the app starts (Processpype's
        ``app.api``; see :mod:`plugwork.service_routes`)."""
        from .service_routes import ServiceRoutes

        return ServiceRoutes(self, self.asgi)

    def run(self, host: str | None = None, port: int | None = None, **uvicorn_options: Any) -> None:
        """Serve the app with uvicorn until SIGINT/SIGTERM (graceful shutdown)."""
        from .server import serve

        serve(self, host=host, port=port, **uvicorn_options)

    async def run_until_stopped(self) -> None:
        """Start, wait for SIGINT/SIGTERM, stop: for processes without HTTP (``plugwork worker``)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with self:
            from .server import freeze_startup_objects

            freeze_startup_objects()
            await stop.wait()
            log.info("shutdown signal received", app=self.name)
