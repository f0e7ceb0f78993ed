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

from ..errors import DefinitionError
from ..extras import require
from ..plugins import AppInit, Background, Component, Plugin
from .settings import SoajsSettings

# Every app imports this module (a built-in plugin), enabled or not: the SOAJS modules (Pydantic models of
# the registry, the gateway's client, which needs the `soajs` extra) are imported by the hooks of an
# enabled plugin, never here.
if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from ..app import App
    from ..plugins import ASGIApp
    from .registration import Registrar
    from .registry import RegistryManager

__all__ = ["SoajsPlugin", "SoajsSettings", "api_list"]

_EXEMPT = frozenset({"/heartbeat", "/health", "/health/live", "/health/ready", "/metrics"})


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
        from .carrier import SoajsCarrier, tenant_guard
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
        from .middleware import SOAJSMiddleware

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
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

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
        from .config import Config
        from .exceptions import RegistryError
        from .registration import HeartbeatServer, Registrar

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
