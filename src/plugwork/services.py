"""Services: long-lived dependencies with a lifecycle, and the container that injects them by type.

::

    initialized ──configure──> configured ──start──> starting ──> running ──stop──> stopping ──> stopped
          any step that raises ───────────────────────────────────────────────────────> error (reason kept)

Subclasses override ``start``/``stop`` (and optionally ``configure`` and ``health_check``); the container
drives the states. A service's ``__init__`` may ask for other services, the app's ``Settings`` or any
provided object by type hint; the container builds them first, starts them in dependency order whatever
order they were registered in, and stops them in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import typing
from collections.abc import Awaitable, Iterable
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from .config import config_error
from .errors import DependencyError, ServiceError
from .observability.health import CheckValue, HealthRegistry, HealthStatus

T = TypeVar("T")


class ServiceState(StrEnum):
    """The lifecycle states of a :class:`Service` (see the diagram in this module's docstring)."""

    INITIALIZED = "initialized"
    CONFIGURED = "configured"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"


_HEALTH_OF_STATE = {
    ServiceState.RUNNING: HealthStatus.GREEN,
    ServiceState.ERROR: HealthStatus.RED,
}


def _snake(name: str) -> str:
    # "HTTPClientPool" -> "http_client_pool", "Greeter" -> "greeter"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Service:
    """A long-lived dependency (database, HTTP client, model...) with a lifecycle and health.

    Set ``name`` to name it (default: the class name in snake_case), ``config_model`` to validate its
    ``services.<name>:`` section, ``required = False`` if the app is ready without it.
    """

    name: str = ""
    config_model: ClassVar[type[BaseModel] | None] = None
    required: ClassVar[bool] = True
    # Class-level defaults, so subclasses need not call super().__init__().
    state: ServiceState = ServiceState.INITIALIZED
    error: str | None = None
    config: Any = None
    autostart: bool = True
    health: HealthRegistry

    def __init__(self, name: str | None = None) -> None:
        # Processpype-style services pass their name up: ``super().__init__(name or "my_service")``.
        if name:
            self.name = name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = _snake(cls.__name__)

    def configure(self, config: Any) -> None:
        """Apply the validated config section (an instance of ``config_model``, or None)."""
        self.config = config

    async def start(self) -> None:
        """Acquire resources. Raise to fail the start; the reason is kept."""

    async def stop(self) -> None:
        """Release resources."""

    def health_check(self) -> CheckValue | Awaitable[CheckValue]:
        """This service's health; by default derived from its state."""
        if self.state is ServiceState.STOPPED and not self.autostart:
            return HealthStatus.YELLOW, {"state": self.state.value}
        status = _HEALTH_OF_STATE.get(self.state, HealthStatus.YELLOW)
        details: dict[str, Any] = {"state": self.state.value}
        if self.error:
            details["error"] = self.error
        return status, details

    # Processpype-style helpers.
    def set_state(self, state: ServiceState) -> None:
        self.state = state

    def set_error(self, reason: str) -> None:
        self.error = reason
        self.state = ServiceState.ERROR

    def status(self) -> dict[str, Any]:
        """What the management API shows."""
        return {
            "name": self.name,
            "state": self.state.value,
            "error": self.error,
            "autostart": self.autostart,
            "config": self.config.model_dump(mode="json")
            if isinstance(self.config, BaseModel)
            else self.config,
        }

    # Driven by the container ---------------------------------------------------------------------------
    def _validate(self, raw: dict[str, Any] | BaseModel | None) -> Any:
        """The configuration ``raw`` stands for, validated; raises ConfigError and changes nothing."""
        model = self.config_model or _annotated_config(type(self))
        try:
            return raw if isinstance(raw, BaseModel) or model is None else model.model_validate(raw or {})
        except ValidationError as exc:
            raise config_error(exc, prefix=f"services.{self.name}.") from None

    def _configure(self, raw: dict[str, Any] | BaseModel | None) -> None:
        # Refused before anything is applied: the service keeps its state and its current config.
        config = self._validate(raw)
        try:
            self.configure(config)
        except Exception as exc:
            self.set_error(f"configure failed: {exc}")
            raise ServiceError(self.name, f"configure failed: {exc}") from exc
        self.error = None
        self.state = ServiceState.CONFIGURED

    async def _start(self, timeout: float) -> None:
        if self.state is ServiceState.RUNNING:
            return
        self.state, self.error = ServiceState.STARTING, None
        try:
            async with asyncio.timeout(timeout):
                await self.start()
        except TimeoutError:
            raise self._failed(f"start timed out after {timeout}s") from None
        except Exception as exc:
            raise self._failed(f"start failed: {type(exc).__name__}: {exc}") from exc
        self.state = ServiceState.RUNNING

    async def _stop(self, timeout: float) -> None:
        if self.state not in (ServiceState.RUNNING, ServiceState.STARTING, ServiceState.ERROR):
            if self.state is not ServiceState.STOPPED and self.state is not ServiceState.INITIALIZED:
                self.state = ServiceState.STOPPED
            return
        self.state = ServiceState.STOPPING
        try:
            async with asyncio.timeout(timeout):
                await self.stop()
        except Exception as exc:
            raise self._failed(f"stop failed: {type(exc).__name__}: {exc}") from exc
        self.state = ServiceState.STOPPED

    def _failed(self, reason: str) -> ServiceError:
        self.set_error(reason)
        return ServiceError(self.name, reason)


def _annotated_config(kind: type[Service]) -> type[BaseModel] | None:
    """The model ``configure(self, config: Model)`` is annotated with (Processpype style), if any."""
    if kind.configure is Service.configure:
        return None
    try:
        hints = typing.get_type_hints(kind.configure)
    except Exception:
        return None
    params = list(inspect.signature(kind.configure).parameters)[1:2]
    hint = hints.get(params[0]) if params else None
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


def _is_service_type(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Service) and hint is not Service


class Container:
    """Builds services and other injectables by type, and drives the services' lifecycles."""

    def __init__(
        self,
        health: HealthRegistry,
        *,
        sections: dict[str, Any] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.health = health
        self._sections = sections or {}
        self._registered: list[type[Service] | Service] = []
        self._provided: dict[type, Any] = {}
        self._instances: dict[type, Service] = {}
        self._order: list[Service] = []
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout

    def register(self, service: type[Service] | Service) -> None:
        """Register a service class (built by the container) or a ready-made instance."""
        self._registered.append(service)

    def provide(self, kind: type[T], value: T) -> None:
        """Make ``value`` injectable wherever ``kind`` is asked for."""
        self._provided[kind] = value

    @property
    def services(self) -> list[Service]:
        """Services in start order."""
        return list(self._order)

    def get(self, name: str) -> Service:
        for svc in self._order:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def resolve(self, hint: Any) -> Any:
        """The instance to inject for a type hint. Raises :class:`DependencyError` when there is none."""
        if hint in self._provided:
            return self._provided[hint]
        for kind, value in self._provided.items():
            if isinstance(hint, type) and issubclass(kind, hint):
                return value
        if _is_service_type(hint):
            return self._build(hint, ())
        raise DependencyError(f"nothing can be injected for type {_type_name(hint)}")

    def build_all(self) -> None:
        """Instantiate every registered service (and what they depend on), computing the start order."""
        for item in self._registered:
            section = self._sections.get(item.name)
            if section is not None and not getattr(section, "enabled", True):
                continue  # left out; if something asks for it, _adopt refuses with a clear message
            if isinstance(item, Service):
                self._adopt(type(item), item)
            else:
                self._build(item, ())

    def _section(self, svc: Service) -> Any:
        return self._sections.get(svc.name)

    def _adopt(self, kind: type[Service], svc: Service) -> Service:
        if kind in self._instances:
            return self._instances[kind]
        section = self._section(svc)
        if section is not None and not getattr(section, "enabled", True):
            raise DependencyError(f"service {svc.name!r} is disabled in configuration (services.{svc.name})")
        svc.health = self.health
        svc.autostart = getattr(section, "autostart", True) if section is not None else svc.autostart
        self._instances[kind] = svc
        self._order.append(svc)
        return svc

    def _build(self, kind: type[Service], chain: tuple[type, ...]) -> Service:
        if kind in self._instances:
            return self._instances[kind]
        for existing_kind, svc in self._instances.items():
            if issubclass(existing_kind, kind):
                return svc
        if kind in chain:
            cycle = " -> ".join(k.__name__ for k in (*chain[chain.index(kind) :], kind))
            raise DependencyError(f"service dependency cycle: {cycle}")
        try:
            hints = typing.get_type_hints(kind.__init__)
        except Exception as exc:
            raise DependencyError(
                f"service {kind.__name__}: cannot resolve __init__ annotations: {exc}"
            ) from exc
        kwargs: dict[str, Any] = {}
        params = inspect.signature(kind.__init__).parameters
        for pname, param in list(params.items())[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            hint = hints.get(pname)
            if _is_service_type(hint):
                kwargs[pname] = self._build(hint, (*chain, kind))  # type: ignore[arg-type]
                continue
            try:
                kwargs[pname] = self.resolve(hint)
            except DependencyError:
                if param.default is not param.empty:
                    continue
                raise DependencyError(
                    f"service {kind.__name__}: __init__ parameter {pname!r} of type {_type_name(hint)} "
                    "cannot be injected"
                ) from None
        return self._adopt(kind, kind(**kwargs))

    async def configure_all(self) -> None:
        for svc in self._order:
            if svc.state is ServiceState.INITIALIZED:
                svc._configure(_settings_of(self._section(svc)))

    async def start_all(self) -> None:
        """Start autostart services in dependency order; on failure stop those started, then raise."""
        started: list[Service] = []
        for svc in self._order:
            self.health.register(svc.name, svc.health_check, required=svc.required and svc.autostart)
            if not svc.autostart:
                continue
            try:
                await svc._start(self.start_timeout)
            except ServiceError:
                # The failed service may hold part of its resources: it is stopped first, so that
                # everything it depends on still runs while it cleans up (reverse order). Its reason
                # stays in ``svc.error``.
                await self._stop([svc, *reversed(started)])
                raise
            started.append(svc)

    async def stop_all(self) -> None:
        """Stop every service in reverse start order (errors are kept on the service, not raised)."""
        await self._stop(reversed(self._order))

    async def _stop(self, services: Iterable[Service]) -> None:
        for svc in services:
            with contextlib.suppress(ServiceError):  # the reason is kept in svc.error, shown by health
                await svc._stop(self.stop_timeout)

    async def start_one(self, svc: Service) -> None:
        """Start one service (and the services it depends on are expected to be running already)."""
        if svc.state in (ServiceState.INITIALIZED, ServiceState.ERROR) and svc.config is None:
            svc._configure(_settings_of(self._section(svc)))
        await svc._start(self.start_timeout)

    async def stop_one(self, svc: Service) -> None:
        await svc._stop(self.stop_timeout)


def _settings_of(section: Any) -> dict[str, Any] | None:
    """The service's own settings: a section's extra keys (enabled/autostart are the container's)."""
    if section is None:
        return None
    if isinstance(section, dict):
        return {k: v for k, v in section.items() if k not in ("enabled", "autostart")}
    extra = getattr(section, "model_extra", None)
    return dict(extra or {})


def _type_name(hint: Any) -> str:
    return getattr(hint, "__qualname__", None) or repr(hint)
