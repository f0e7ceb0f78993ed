"""``PyModulesAPI``: the older PyModules FastAPI surface, kept for existing code (prefer ModuleRouter).

``add_event_endpoint(app, path, Event, Input, Output)`` serves one event at an explicit path (POST by
default) with the same endpoint as the convention routes; ``add_health_endpoints`` serves the host's
:class:`~plugwork.events.health.HealthCheck`; ``add_metrics_endpoint`` the host's counters as JSON;
``add_tracing_middleware`` gives every request a correlation id, echoed in ``X-Correlation-ID``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..context import new_correlation_id
from ..events.event import Event
from ..events.health import HealthCheck
from ..rest.conventions import RestRoute
from ..rest.endpoint import DEFAULT_MAX_BODY
from .routers import add_route, with_components

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..events.host import ModuleHost

Scope = dict[str, Any]


class PyModulesAPI:
    """Explicit event endpoints, health, metrics and correlation ids on a FastAPI app (legacy form)."""

    def __init__(
        self, host: ModuleHost, version: str = "", *, max_body_bytes: int = DEFAULT_MAX_BODY
    ) -> None:
        self.host = host
        self.version = version
        self.health = host.health or HealthCheck(host=host, version=version)
        self.max_body_bytes = max_body_bytes
        self.components: dict[str, Any] = {}

    def add_event_endpoint(
        self,
        app: FastAPI,
        path: str,
        event_type: type[Event[Any, Any]],
        input_type: Any = None,
        output_type: Any = None,
        method: str = "POST",
        tags: list[str] | None = None,
        summary: str | None = None,
    ) -> None:
        """Serve ``event_type`` at ``method path`` (the types come from the event class itself)."""
        spec = self.host.register_event(event_type)
        route = RestRoute(spec.name, method.upper(), path, tuple(tags or ("events",)), summary or spec.name)
        add_route(app, route, spec, self.host.invoke, self.components, self.max_body_bytes)
        with_components(app, self.components)

    def add_health_endpoints(self, app: FastAPI, prefix: str = "") -> None:
        """``/health`` (every check), ``/health/live`` and ``/health/ready`` (503 when unhealthy)."""
        health = self.health

        async def everything(request: Request) -> Response:
            return _report(await health.check_async())

        async def live(request: Request) -> Response:
            return _report(await health.check_async([n for n in health.names if health.is_liveness(n)]))

        async def ready(request: Request) -> Response:
            return _report(await health.check_async([n for n in health.names if health.is_readiness(n)]))

        app.add_api_route(f"{prefix}/health", everything, methods=["GET"], tags=["health"])
        app.add_api_route(f"{prefix}/health/live", live, methods=["GET"], tags=["health"])
        app.add_api_route(f"{prefix}/health/ready", ready, methods=["GET"], tags=["health"])

    def add_metrics_endpoint(self, app: FastAPI, path: str = "/metrics") -> None:
        """The host's counters (``host.metrics.to_dict()``) as JSON."""
        metrics = self.host.metrics

        async def endpoint(request: Request) -> Response:
            return JSONResponse(metrics.to_dict())

        app.add_api_route(path, endpoint, methods=["GET"], tags=["metrics"])

    def add_tracing_middleware(self, app: FastAPI) -> None:
        """Give each request a correlation id (the client's ``X-Correlation-ID`` or a new one), used by the
        event endpoints and echoed in the response's ``X-Correlation-ID``."""
        app.add_middleware(CorrelationIdMiddleware)


def _report(report: Any) -> Response:
    return JSONResponse(report.to_dict(), status_code=200 if report.is_healthy else 503)


class CorrelationIdMiddleware:
    """Pure ASGI: ``scope["state"]["correlation_id"]`` in, ``X-Correlation-ID`` on every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = ""
        for key, value in scope["headers"]:
            if key == b"x-correlation-id":
                cid = value.decode("latin-1")[:128]
        cid = cid or new_correlation_id()
        scope.setdefault("state", {})["correlation_id"] = cid
        header = (b"x-correlation-id", cid.encode("latin-1"))

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-correlation-id"]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
