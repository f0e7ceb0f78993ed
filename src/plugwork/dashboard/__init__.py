"""The web dashboard: jobs, actions and services of a running app (docs/dashboard.md)."""

from .plugin import DashboardPlugin, DashboardSettings

__all__ = ["DashboardPlugin", "DashboardSettings"]
