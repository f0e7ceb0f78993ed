"""The service management API Processpype users have, guarded by a bearer token from settings.

``GET /`` app status, ``GET /services``, ``GET /services/{name}``, and ``POST /services/{name}/start``,
``stop``, ``configure`` (409 while the service runs) and ``configure_and_start`` (restarts a running
service with the new configuration). A built-in plugin, enabled by ``management_api``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ConfigError, DependencyError, ErrorCode, ServiceError
from ..plugins import Plugin
from ..services import Service, ServiceState
from .body import incoming_context, not_json, read_limited
from .guard import RouteGuard
from .responses import JSONResponse, error_response

if TYPE_CHECKING:
    from ..app import App

Handler = Callable[[Request], Awaitable[Response]]
MANAGE_PERMISSION = "plugwork:manage"


class ManagementPlugin(Plugin):
    """The management API, when ``management_api`` is on (a ``management_token`` is then required)."""

    name = "management"

    def enabled(self, app: App) -> bool:
        return app.settings.management_api

    def routes(self, app: App) -> Sequence[BaseRoute]:
        return management_routes(app)


def management_routes(app: App) -> list[BaseRoute]:
    """The management routes, each checking the bearer token in constant time.

    With an auth plugin (a :class:`~plugwork.http.guard.RouteGuard`), a token of the app's own auth that
    grants ``plugwork:manage`` is accepted too.
    """
    secret = app.settings.management_token
    expected = ("Bearer " + secret.get_secret_value()).encode() if secret is not None else None
    try:
        guard: RouteGuard | None = app.get(RouteGuard)  # type: ignore[type-abstract]
    except DependencyError:
        guard = None

    def guarded(handler: Handler) -> Handler:
        async def check(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if expected is not None and hmac.compare_digest(given, expected):
                return await handler(request)
            if guard is None:
                return error_response(ErrorCode.UNAUTHORIZED, "A valid bearer token is required")
            with incoming_context(request, app.carriers) as ctx:
                refusal = await guard.admit(ctx, permission=MANAGE_PERMISSION)
            if refusal is not None:
                return error_response(refusal.code, refusal.message, refusal.details, refusal.status)
            return await handler(request)

        return check

    def find(request: Request) -> Service | Response:
        try:
            assert app.container is not None
            return app.container.get(request.path_params["name"])
        except (KeyError, AssertionError):
            return error_response(ErrorCode.NOT_FOUND, f"No service named {request.path_params['name']!r}")

    async def status(request: Request) -> Response:
        services = app.container.services if app.container else []
        return JSONResponse(
            {
                "name": app.name,
                "version": app.settings.version,
                "state": app.state.value,
                "environment": app.settings.environment,
                "services": {svc.name: svc.state.value for svc in services},
            }
        )

    async def list_services(request: Request) -> Response:
        return JSONResponse([svc.status() for svc in (app.container.services if app.container else [])])

    async def show(request: Request) -> Response:
        svc = find(request)
        return svc if isinstance(svc, Response) else JSONResponse(svc.status())

    def operation(configure: bool, start: bool, stop: bool) -> Handler:
        async def run(request: Request) -> Response:
            svc = find(request)
            if isinstance(svc, Response):
                return svc
            assert app.container is not None
            try:
                if configure:
                    raw = await read_limited(request, app.settings.max_body_bytes)
                    if raw is None:
                        return error_response(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large")
                    if not_json(request, raw):
                        return error_response(
                            ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"
                        )
                    config = orjson.loads(raw) if raw else {}
                    if not isinstance(config, dict):
                        return error_response(
                            ErrorCode.BAD_REQUEST, "The configuration must be a JSON object"
                        )
                    config = svc._validate(config)  # a refused configuration changes nothing
                    if svc.state is ServiceState.RUNNING:
                        if not start:
                            return error_response(
                                ErrorCode.CONFLICT,
                                f"Service {svc.name!r} is running: stop it first, or use configure_and_start",
                            )
                        await app.container.stop_one(svc)  # configure_and_start restarts it
                    svc._configure(config)
                if stop:
                    await app.container.stop_one(svc)
                if start:
                    await app.container.start_one(svc)
            except orjson.JSONDecodeError as exc:
                return error_response(ErrorCode.BAD_REQUEST, f"Malformed JSON: {exc}")
            except ConfigError as exc:
                return error_response(ErrorCode.VALIDATION_ERROR, str(exc), {"key": exc.key})
            except ServiceError as exc:
                return error_response(ErrorCode.INTERNAL, str(exc), svc.status(), status=500)
            return JSONResponse(svc.status())

        return run

    routes = [
        ("/", status, "GET"),
        ("/services", list_services, "GET"),
        ("/services/{name}", show, "GET"),
        ("/services/{name}/start", operation(False, True, False), "POST"),
        ("/services/{name}/stop", operation(False, False, True), "POST"),
        ("/services/{name}/configure", operation(True, False, False), "POST"),
        ("/services/{name}/configure_and_start", operation(True, True, False), "POST"),
    ]
    return [Route(path, guarded(handler), methods=[method]) for path, handler, method in routes]
