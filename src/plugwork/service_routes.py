"""Services that serve their own HTTP routes under ``/services/{name}/...`` (the Processpype surface).

A service contributes routes with a ``router`` attribute — a Starlette ``Router``, a FastAPI ``APIRouter``
or a list of routes — (Processpype's ``_router`` works too). Paths may already carry the
``/services/{name}`` prefix (Processpype's ``APIRouter(prefix=f"/services/{self.name}")``) or be relative
to it. While the app runs, a service's routes answer only while that service is running: ``503
UNAVAILABLE`` otherwise (stopped, stopping, failed, not started). Before the app first starts they answer
too, so that a test client without lifespan reaches them, as in Processpype. Paths no service route
matches go on to the app (the management API's ``/services/{name}/start``...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Router

from .errors import ErrorCode
from .http.responses import error_response
from .plugins import ASGIApp, Plugin
from .services import Service, ServiceState

if TYPE_CHECKING:
    from .app import App

Scope = dict[str, Any]
_PREFIX = "/services/"


def service_routes(service: Service) -> list[BaseRoute]:
    """The routes ``service`` contributes (none when it has no router)."""
    router = getattr(service, "router", None)
    if router is None:
        router = getattr(service, "_router", None)
    if router is None:
        return []
    if isinstance(router, Sequence):
        return list(router)
    routes = getattr(router, "routes", None)
    if routes is None:
        raise TypeError(
            f"service {service.name!r}: router must be a Starlette/FastAPI router or a route list"
        )
    return list(routes)


class ServiceRoutes:
    """ASGI wrapper serving the services' routes in front of ``inner`` (the app's HTTP transport)."""

    def __init__(self, app: App, inner: ASGIApp) -> None:
        self.app = app
        self.inner = inner
        self._routers: dict[int, _Served | None] = {}
        self._generation = -1  # services are built anew at each start: the cache follows

    def _services(self) -> list[Service]:
        container = self.app.container
        if container is not None:
            return container.services
        return [s for s in self.app.registered_services if isinstance(s, Service)]

    def _served(self, svc: Service) -> _Served | None:
        if self._generation != self.app.generation:
            self._routers.clear()
            self._generation = self.app.generation
        key = id(svc)
        if key not in self._routers:
            self._routers[key] = _build(svc)
        return self._routers[key]

    def _available(self, svc: Service) -> bool:
        if self.app.state.value == "created":
            return svc.state not in (ServiceState.STOPPING, ServiceState.STOPPED, ServiceState.ERROR)
        return self.app.ready and svc.state is ServiceState.RUNNING

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path.startswith(_PREFIX):
                name = path[len(_PREFIX) :].partition("/")[0]
                for svc in self._services():
                    if svc.name != name:
                        continue
                    served = self._served(svc)
                    if served is not None and _matches(served.routes, scope):
                        if not self._available(svc):
                            response = error_response(
                                ErrorCode.UNAVAILABLE,
                                f"Service {name} is not running",
                                details={"state": svc.state.value},
                            )
                            await response(scope, receive, send)
                            return
                        await served.asgi(scope, receive, send)
                        return
        await self.inner(scope, receive, send)


def _matches(routes: Sequence[BaseRoute], scope: Scope) -> bool:
    """Whether a route answers ``scope`` (looking inside mounts: a mount alone matches any subpath)."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        inner = getattr(route, "routes", None) if isinstance(route, Mount) else None
        if inner is None or _matches(inner, {**scope, **child}):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Served:
    service: Service  # kept alive, so that the id() key stays its own
    asgi: ASGIApp
    routes: list[BaseRoute]


def _build(svc: Service) -> _Served | None:
    routes = service_routes(svc)
    if not routes:
        return None
    prefix = f"/services/{svc.name}"
    prefixed = all(getattr(r, "path", "").startswith(prefix + "/") for r in routes)
    if any(type(r).__module__.startswith("fastapi") for r in routes):
        # FastAPI routes need FastAPI's own per-request set-up: serve them from a FastAPI app of their own.
        from .extras import require

        fastapi = require("fastapi", extra="fastapi")
        sub = fastapi.FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        router = fastapi.APIRouter(routes=routes)
        sub.include_router(router, prefix="" if prefixed else prefix)
        return _Served(svc, sub, list(sub.router.routes))
    plain = Router(routes=routes if prefixed else [Mount(prefix, routes=routes)])
    return _Served(svc, plain, list(plain.routes))


class ServiceRoutesPlugin(Plugin):
    """Built in: serve the services' own routes (see the module docstring)."""

    name = "service_routes"

    def enabled(self, app: App) -> bool:
        # A class's routes are known once it is built: take part when a registered service may have some.
        return any(isinstance(s, type) or service_routes(s) for s in app.registered_services)

    def asgi_middleware(self, app: App) -> Sequence[Callable[[ASGIApp], ASGIApp]]:
        services = app.container.services if app.container is not None else []
        if not any(service_routes(s) for s in services):
            return ()
        return [lambda inner: ServiceRoutes(app, inner)]
