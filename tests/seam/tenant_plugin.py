"""A third-party-style plugin, defined only here: it touches nothing under src/.

It adds a setting, a service, a middleware, an HTTP route, a background component and a context carrier
(``X-Tenant`` -> ``ctx.tenant``), exactly as an integration would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from plugwork import App, AppInit, Context, Invocation, Outcome, Plugin, PluginSettings, Service
from plugwork.errors import ActionError, ErrorCode
from plugwork.plugins import Background, Component

EVENTS: list[str] = []


class TenantSettings(PluginSettings):
    greeting: str = "hello"
    required: bool = False


class TenantDirectory(Service):
    """A service the plugin adds: actions get it by type."""

    async def start(self) -> None:
        EVENTS.append("service started")

    async def stop(self) -> None:
        EVENTS.append("service stopped")

    def label(self, tenant: str | None) -> str:
        return f"tenant:{tenant}"


class TenantCarrier:
    keys: tuple[str, ...] = ("x-tenant",)

    def __init__(self, required: bool) -> None:
        self.required = required

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        value = headers.get("x-tenant")
        if value is not None and not value.isalnum():
            raise ActionError("X-Tenant must be alphanumeric", code=ErrorCode.BAD_REQUEST)
        if value:
            ctx.tenant = value

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        if ctx.tenant:
            headers["x-tenant"] = str(ctx.tenant)


class Ticker:
    """A background component: ticks until stopped."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        EVENTS.append("component stopped")
        self._stop.set()


class TenantPlugin(Plugin):
    name = "tenant"
    settings_model = TenantSettings

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.ticker: Ticker | None = None
        self.seen: list[str] = []

    def on_app_init(self, init: AppInit) -> None:
        init.add_service(TenantDirectory)
        init.add_middleware(self._middleware)
        init.add_carrier(TenantCarrier(self.config.required))

    async def _middleware(self, invocation: Invocation, call_next: Any) -> Outcome:
        self.seen.append(invocation.action)
        return await call_next(invocation)

    def routes(self, app: App) -> Sequence[BaseRoute]:
        async def hello(request: Request) -> JSONResponse:
            return JSONResponse(
                {"greeting": self.config.greeting, "ticks": bool(self.ticker and self.ticker.ticks)}
            )

        return [Route("/tenant/hello", hello, methods=["GET"])]

    def openapi_paths(self, app: App) -> dict[str, Any]:
        return {
            "/tenant/hello": {
                "get": {"operationId": "tenant_hello", "responses": {"200": {"description": "ok"}}}
            }
        }

    async def start(self, app: App) -> Component | None:
        EVENTS.append("component started")
        self.ticker = Ticker()
        return Background("ticker", self.ticker.run(), self.ticker.stop)
