"""Convention REST routes on Plugwork's own HTTP transport, contributed by a plugin.

``App(plugins=[RestPlugin(prefix="/api/v1")])`` serves every action that has a REST route (by naming
convention or ``@api_endpoint``; see :mod:`plugwork.rest.conventions`) beside ``POST /actions/{name}``, and
shows each as a typed operation in ``/openapi.json``. Requests go through the app's dispatcher, carriers and
middleware like every other transport's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from ..context import Context
from ..dispatch import Invocation, Outcome
from ..plugins import Plugin
from .conventions import rest_routes
from .endpoint import rest_endpoint
from .openapi import rest_paths

if TYPE_CHECKING:
    from ..app import App


class RestPlugin(Plugin):
    """Serve the app's actions as REST routes under ``prefix``."""

    name = "rest"

    def __init__(self, prefix: str = "", **overrides: Any) -> None:
        super().__init__(**overrides)
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("prefix must start with '/' and not end with one")
        self.prefix = prefix

    def routes(self, app: App) -> Sequence[BaseRoute]:
        dispatcher = app.dispatcher

        async def dispatch(name: str, payload: dict[str, Any], ctx: Context) -> Outcome:
            return await dispatcher.dispatch(Invocation(name, payload, ctx))

        limit = app.settings.max_body_bytes
        return [
            Route(
                self.prefix + route.path,
                rest_endpoint(route, spec, dispatch, max_body_bytes=limit, carriers=app.carriers),
                methods=[route.method],
                name=f"rest_{spec.name}",
            )
            for route, spec in rest_routes(app.actions)
        ]

    def openapi_paths(self, app: App) -> dict[str, Any]:
        return rest_paths(rest_routes(app.actions), self.prefix)
