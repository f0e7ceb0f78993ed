"""The Starlette side of the HTTP transport: everything but the ``POST /actions/{name}`` hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ErrorCode
from ..observability.metrics import exposition
from ..services import ServiceState
from .openapi import SWAGGER_ASSETS, openapi_spec, swagger_html
from .responses import JSONResponse, error_response

if TYPE_CHECKING:
    from ..app import App


def build_routes(app: App) -> Starlette:
    """The Starlette app for ``app``: built once per start, after the app has started.

    The core routes (catalog, docs, health, metrics), then every active plugin's routes.
    """
    routes: list[BaseRoute] = [*catalog_routes(app), *health_routes(app)]
    for plugin in app.active_plugins:
        routes += plugin.routes(app)
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


def catalog_routes(app: App) -> list[BaseRoute]:
    """``GET /actions``, ``GET /actions/{name}``, ``/openapi.json`` and ``/docs``."""
    # Actions are fixed once the app has started, and JSON Schema generation is costly: render each once.
    rendered: dict[str, bytes] = {}

    def cached(key: str, build: Callable[[], Any]) -> Response:
        if key not in rendered:
            rendered[key] = bytes(JSONResponse(build()).body)
        return Response(rendered[key], media_type="application/json")

    async def catalog(request: Request) -> Response:
        return cached("/actions", app.catalog)

    async def describe(request: Request) -> Response:
        spec = app.actions.get(request.path_params["name"])
        if spec is None:
            return error_response(ErrorCode.UNKNOWN_ACTION, f"Unknown action: {request.path_params['name']}")
        return cached(f"/actions/{spec.name}", spec.describe)

    async def openapi(request: Request) -> Response:
        return cached("/openapi.json", lambda: openapi_spec(app))

    async def docs(request: Request) -> Response:
        return HTMLResponse(swagger_html(f"{app.name} — API docs", "/openapi.json"))

    return [
        Route("/actions", catalog, methods=["GET"]),
        Route("/actions/{name}", describe, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs_assets"),
    ]


METRICS_HEALTH_MAX_AGE = 5.0
"""Seconds a health check's result serves ``/metrics`` before the check runs again."""


def health_routes(app: App) -> list[BaseRoute]:
    """``/health``, ``/health/live``, ``/health/ready`` and ``/metrics``."""

    async def health(request: Request) -> Response:
        report = await app.health.report()
        app.metrics.health_status = int(report.status)
        return JSONResponse(report.to_dict(), status_code=report.http_status)

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> Response:
        if not app.ready:
            return JSONResponse({"status": "not ready", "state": app.state.value}, status_code=503)
        report = await app.health.report(required_only=True)
        # A stopped service is only YELLOW in /health, but readiness needs every required one running.
        services = app.container.services if app.container is not None else []
        down = [
            s.name for s in services if s.required and s.autostart and s.state is not ServiceState.RUNNING
        ]
        ok = report.http_status == 200 and not down
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": report.checks}
        if down:
            body["services_down"] = down
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        # A scrape every few seconds must not run every health check each time (some query a database):
        # results younger than METRICS_HEALTH_MAX_AGE are reused.
        report = await app.health.report(max_age=METRICS_HEALTH_MAX_AGE)
        app.metrics.health_status = int(report.status)
        body, media_type = exposition(app.metrics_registry)
        return Response(body, media_type=media_type)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


async def _not_found(request: Request, exc: Any) -> Response:
    return error_response(ErrorCode.NOT_FOUND, f"No route for {request.method} {request.url.path}")


async def _not_allowed(request: Request, exc: Any) -> Response:
    response = error_response(ErrorCode.BAD_REQUEST, f"Method {request.method} not allowed here", status=405)
    allow = (getattr(exc, "headers", None) or {}).get("Allow")
    if allow:  # RFC 9110: a 405 lists the methods the resource has
        response.headers["Allow"] = allow
    return response
