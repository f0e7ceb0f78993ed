"""The dashboard as a built-in plugin, off unless ``dashboard`` is on (``PLUGWORK_DASHBOARD=true``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import PluginSettings
from ..errors import DependencyError
from ..http.guard import RouteGuard
from ..plugins import Component, Plugin

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from ..app import App
    from .access import DashboardAccess


class DashboardSettings(PluginSettings):
    """``plugins.dashboard:`` in YAML, or the environment."""

    dashboard: bool = False
    """Serve the dashboard (``PLUGWORK_DASHBOARD``)."""
    dashboard_path: str = "/dashboard"
    """Where (``PLUGWORK_DASHBOARD_PATH``)."""


class DashboardPlugin(Plugin):
    """Serves the web dashboard of jobs, actions and services (docs/dashboard.md)."""

    name = "dashboard"
    settings_model = DashboardSettings

    def __init__(self, **overrides: object) -> None:
        super().__init__(**overrides)
        self.access: DashboardAccess | None = None

    def enabled(self, app: App) -> bool:
        return bool(self.config.dashboard)

    async def start(self, app: App) -> Component | None:
        from .access import DashboardAccess

        try:
            guard: RouteGuard | None = app.get(RouteGuard)  # type: ignore[type-abstract]
        except DependencyError:
            guard = None
        # Decided at start: a dashboard the app cannot guard fails the start, never serves data openly.
        self.access = DashboardAccess(
            token=app.settings.management_token,
            guard=guard,
            dev_mode=app.settings.dev_mode,
            carriers=app.carriers,
        )
        return None

    def routes(self, app: App) -> Sequence[BaseRoute]:
        from .routes import dashboard_routes

        assert self.access is not None
        return dashboard_routes(app, self.access, self.config.dashboard_path.rstrip("/") or "/dashboard")
