"""Convention REST routes on FastAPI: :class:`ModuleRouter` for a host's events, :func:`rest_router` for
a Plugwork app's actions. Both serve each route with the same endpoint as Plugwork's own HTTP transport
(path, query and body validated into the input model, Plugwork's error shape)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..actions import Action
from ..context import Context
from ..dispatch import Invocation, Outcome
from ..errors import DefinitionError, ErrorCode
from ..events.event import Event
from ..events.host import ModuleHost
from ..http.openapi import ERROR_SCHEMA
from ..rest.conventions import RestRoute, rest_route, rest_routes
from ..rest.endpoint import DEFAULT_MAX_BODY, Dispatch, rest_endpoint
from ..rest.openapi import rest_operation
from ._dep import fastapi

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from ..app import App


def add_route(
    router: Any, route: RestRoute, spec: Action, dispatch: Dispatch, components: dict[str, Any], limit: int
) -> None:
    """Add one REST route to a FastAPI app or router, documented with the typed operation."""
    operation = rest_operation(route, spec, components)
    router.add_api_route(
        route.path,
        rest_endpoint(route, spec, dispatch, max_body_bytes=limit),
        methods=[route.method],
        summary=route.summary,
        tags=list(route.tags) or None,
        operation_id=operation["operationId"],
        openapi_extra={k: v for k, v in operation.items() if k in ("parameters", "requestBody", "responses")},
    )


def with_components(app: FastAPI, components: dict[str, Any]) -> None:
    """Add the schemas the routes reference to ``app``'s OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, value in {"Error": ERROR_SCHEMA, **components}.items():
            schemas.setdefault(name, value)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class ModuleRouter:
    """REST routes for a host's events, by convention (``CreateUser`` → ``POST /users``) or
    ``@api_endpoint``; mounted on a FastAPI app with :meth:`mount`."""

    def __init__(self, host: ModuleHost, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.host = host
        self.max_body_bytes = max_body_bytes
        self._routes: dict[str, tuple[RestRoute, Action]] = {}
        self.components: dict[str, Any] = {}

    def register_event(self, event_type: type[Event[Any, Any]]) -> RestRoute | None:
        """Serve ``event_type`` (None if it is ``@exclude_from_api``). Raises ``DefinitionError`` when
        no convention matches its name and it has no ``@api_endpoint``."""
        spec = self.host.register_event(event_type)
        route = rest_route(spec)
        if route is None:
            if getattr(event_type, "__plugwork_rest__", {}).get("exclude"):
                return None
            raise DefinitionError(
                f"event {spec.name!r}: no REST convention matches its name; give it an @api_endpoint"
            )
        self._routes[spec.name] = (route, spec)
        rest_routes([s for _, s in self._routes.values()])  # refuses two events on one route
        return route

    def register_events(self, *event_types: type[Event[Any, Any]]) -> None:
        for kind in event_types:
            self.register_event(kind)

    @property
    def routes(self) -> list[RestRoute]:
        return [route for route, _ in self._routes.values()]

    def build(self) -> APIRouter:
        """A FastAPI ``APIRouter`` with one route per registered event."""
        router: APIRouter = fastapi.APIRouter()
        for route, spec in self._routes.values():
            add_route(router, route, spec, self.host.invoke, self.components, self.max_body_bytes)
        return router

    def mount(self, app: FastAPI, prefix: str = "") -> None:
        """Include the routes in ``app`` under ``prefix`` (e.g. ``"/api/v1"``)."""
        app.include_router(self.build(), prefix=prefix)
        with_components(app, self.components)


def rest_router(app: App, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> APIRouter:
    """A FastAPI ``APIRouter`` with the convention REST route of every action of ``app`` that has one.

    The Plugwork app must be running when requests arrive (see :func:`plugwork.fastapi.lifespan`).
    """
    router: APIRouter = fastapi.APIRouter()
    components: dict[str, Any] = {}
    for route, spec in rest_routes(app.actions):
        add_route(router, route, spec, app_dispatch(app), components, max_body_bytes)
    return router


def app_dispatch(app: App) -> Dispatch:
    """Dispatch through ``app``'s dispatcher; ``UNAVAILABLE`` while the app is not running."""

    async def dispatch(name: str, payload: dict[str, Any], ctx: Context) -> Outcome:
        if not app.ready:
            return Outcome.failure(ErrorCode.UNAVAILABLE, "The app is not started")
        return await app.dispatcher.dispatch(Invocation(name, payload, ctx))

    return dispatch
