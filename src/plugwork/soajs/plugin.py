"""The SOAJS plugin: a Plugwork app behind a SOAJS gateway, enabled by environment variables alone.

With ``SOAJS_REGISTRY_API`` set it loads the registry at start (a failure stops the start, naming the URL
and the gateway's codes), reloads it at the registry's period, reports ``soajs_registry`` in ``/health``,
wraps the HTTP transport in :class:`~plugwork.soajs.SOAJSMiddleware`, fills ``ctx.soajs`` and enforces
the actions' ``meta={"soajs": {"tenant": "required"}}``. With ``SOAJS_DEPLOY_MANUAL`` too, it registers
the app with the gateway (``mw: true``, an ``apiList`` of its actions), answers ``/heartbeat`` on
``port + maintenanceInc`` (and on the app's own port) and registers again whenever the gateway forgets it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config import PluginSettings
from ..errors import DefinitionError
from ..extras import require
from ..plugins import AppInit, Background, Component, Plugin
from .carrier import SoajsCarrier, tenant_guard
from .config import Config
from .context import DEFAULT_MAX_HEADER_SIZE
from .exceptions import RegistryError
from .middleware import SOAJSMiddleware
from .registration import CHECK_INTERVAL, HeartbeatServer, Registrar

if TYPE_CHECKING:
    from ..app import App
    from ..plugins import ASGIApp
    from .registry import RegistryManager

_EXEMPT = frozenset({"/heartbeat", "/health", "/health/live", "/health/ready", "/metrics"})


def _env(field: str, *names: str) -> AliasChoices:
    return AliasChoices(field, f"PLUGWORK_SOAJS_{field.upper()}", *names)


class SoajsSettings(PluginSettings):
    """The SOAJS plugin's settings: the soajs-python environment variables, or ``plugins.soajs:`` in YAML."""

    registry_api: str | None = Field(None, validation_alias=_env("registry_api", "SOAJS_REGISTRY_API"))
    env: str = Field("dev", validation_alias=_env("env", "SOAJS_ENV"))
    deploy_manual: bool = Field(False, validation_alias=_env("deploy_manual", "SOAJS_DEPLOY_MANUAL"))
    service_version: str = Field(
        "1", pattern=r"^[0-9]+(\.[0-9]+)?$", validation_alias=_env("service_version", "soajs_service_version")
    )
    group: str = Field("plugwork", validation_alias=_env("group", "SOAJS_SERVICE_GROUP"))
    port: int | None = Field(None, gt=0, lt=65536, validation_alias=_env("port", "SOAJS_SERVICE_PORT"))
    """The port the gateway calls (default: the app's ``http_port``)."""
    ip: str = Field("127.0.0.1", validation_alias=_env("ip", "SOAJS_SRVIP"))
    """The address the gateway reaches this service at."""
    maintenance_host: str | None = Field(None, validation_alias=_env("maintenance_host"))
    """Where the heartbeat server listens (default: the app's ``http_host``)."""
    require_context: bool = Field(False, validation_alias=_env("require_context"))
    """Refuse (401) HTTP requests without the gateway's header, except health probes."""
    ext_key_required: bool = Field(True, validation_alias=_env("ext_key_required"))
    oauth: bool = Field(False, validation_alias=_env("oauth"))
    max_header_size: int = Field(
        DEFAULT_MAX_HEADER_SIZE,
        gt=0,
        validation_alias=_env("max_header_size", "SOAJS_MAX_INJECT_HEADER_SIZE"),
    )
    timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("timeout_seconds"))
    register_check_seconds: float = Field(
        CHECK_INTERVAL, ge=1.0, validation_alias=_env("register_check_seconds")
    )

    @field_validator("registry_api", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class SoajsPlugin(Plugin):
    """Plugwork behind a SOAJS gateway (see the module docstring)."""

    name = "soajs"
    settings_model = SoajsSettings

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.registry: RegistryManager | None = None
        self.registrar: Registrar | None = None

    def enabled(self, app: App) -> bool:
        if self.config.registry_api is None:
            return False
        require("httpx", extra="soajs")  # a missing extra fails here, before anything starts
        return True

    def on_app_init(self, init: AppInit) -> None:
        # Here, not at the top: every app imports this module (a built-in plugin), and the registry's HTTP
        # client needs the `soajs` extra.
        from .registry import RegistryManager

        config: SoajsSettings = init.config
        _check_meta(init.app)
        registry = self.registry = RegistryManager(
            init.app.name,
            config.env,
            auto_reload=True,
            registry_api=config.registry_api,
            timeout=config.timeout_seconds,
            load=False,
        )
        init.provide(RegistryManager, registry)
        init.add_carrier(SoajsCarrier())
        init.add_middleware(tenant_guard)
        init.add_health_check("soajs_registry", registry.health)

    def asgi_middleware(self, app: App) -> Sequence[Callable[[ASGIApp], ASGIApp]]:
        config: SoajsSettings = self.config
        registry = self.registry

        def wrap(inner: ASGIApp) -> ASGIApp:
            return SOAJSMiddleware(
                inner,
                registry,
                required=config.require_context,
                exempt_paths=_EXEMPT,
                max_header_size=config.max_header_size,
            )

        return [wrap]

    def routes(self, app: App) -> Sequence[BaseRoute]:
        async def heartbeat(request: Request) -> Response:
            ok = app.ready
            return Response(b'{"result":%s}' % (b"true" if ok else b"false"), 200 if ok else 503)

        return [Route("/heartbeat", heartbeat, methods=["GET"])]

    def openapi_paths(self, app: App) -> dict[str, Any]:
        ready = {"description": "Ready: the gateway may route here"}
        return {
            "/heartbeat": {
                "get": {
                    "summary": "The SOAJS gateway's health check",
                    "tags": ["soajs"],
                    "responses": {"200": ready, "503": {"description": "Not ready"}},
                }
            }
        }

    async def start(self, app: App) -> Component | None:
        config: SoajsSettings = self.config
        registry = self.registry
        assert registry is not None
        try:
            await registry.aload()  # a RegistryError here stops the start, naming the URL and the codes
        except BaseException:
            await registry.astop()
            raise
        registry.start_auto_reload()
        if not config.deploy_manual:
            return Background("soajs", None, registry.astop)
        settings = app.settings
        port = config.port or settings.http_port
        service = Config(
            name=app.name,
            group=config.group,
            port=port,
            version=config.service_version,
            description=f"Plugwork service {app.name} {settings.version}",
            oauth=config.oauth,
            extKeyRequired=config.ext_key_required,
            maintenance={"port": {"type": "maintenance"}, "readiness": "/heartbeat"},
        )
        maintenance_port = port + registry.registry.service_config.ports.maintenance_inc
        heartbeat = HeartbeatServer(
            config.maintenance_host or settings.http_host,
            maintenance_port,
            lambda: app.ready,
            {"service": app.name, "version": config.service_version},
            "/heartbeat",
        )
        try:
            await heartbeat.start()
        except OSError as exc:
            await registry.astop()
            raise RegistryError(
                f"cannot serve the SOAJS heartbeat on port {maintenance_port}: {exc}"
            ) from None
        registrar = self.registrar = Registrar(registry.api, service, config.ip, api_list(app))
        if not await registrar.register():
            await heartbeat.stop()
            await registry.astop()
            raise RegistryError(f"registration with the SOAJS gateway failed: {registrar.last_error}")

        async def close() -> None:
            await heartbeat.stop()
            await registry.astop()

        loop = registrar.keep_registered(config.register_check_seconds)
        return _Loop(asyncio.create_task(loop, name="plugwork-soajs-registration"), close)


class _Loop:
    """The keep-registered loop (it only sleeps and polls, so it is cancelled at once), then the rest."""

    def __init__(self, task: asyncio.Task[None], close: Callable[[], Awaitable[None]]) -> None:
        self.task = task
        self.close = close

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.close()


def api_list(app: App) -> list[dict[str, Any]]:
    """The ``apiList`` the gateway shows: one ``POST /actions/<name>`` per action, and the catalog."""
    apis: list[dict[str, Any]] = [
        {"l": "The action catalog", "v": "/actions", "m": "get", "group": "catalog"}
    ]
    for name, spec in sorted(app.actions.items()):
        label = (spec.description or name).strip().splitlines()[0][:200]
        group = spec.tags[0] if spec.tags else "actions"
        apis.append({"l": label, "v": f"/actions/{name}", "m": "post", "group": group})
    return apis


def _check_meta(app: App) -> None:
    for name, spec in app.actions.items():
        options = spec.meta.get("soajs")
        if options is None:
            continue
        where = f"action {name!r}: meta['soajs']"
        if not isinstance(options, dict) or set(options) - {"tenant", "tenants"}:
            raise DefinitionError(f"{where} takes only 'tenant' and 'tenants'")
        if options.get("tenant", "required") not in ("required", "optional"):
            raise DefinitionError(f"{where}['tenant'] must be 'required' or 'optional'")
        tenants = options.get("tenants")
        if tenants is not None and (
            not isinstance(tenants, list | tuple) or not all(isinstance(t, str) for t in tenants)
        ):
            raise DefinitionError(f"{where}['tenants'] must be a list of tenant codes")
