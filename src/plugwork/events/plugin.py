"""How an attached host lives inside an App: a service that follows the App's lifecycle.

At start it points ``host.handle`` (sync callers) at the App's event loop and feeds the host's
:class:`~plugwork.events.health.HealthCheck` checks to the App's health registry; the host is injectable by
type (``host: ModuleHost`` in an action or service).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..observability.health import HealthStatus
from ..services import Service

if TYPE_CHECKING:
    from ..app import App
    from .host import ModuleHost


class ModuleHostService(Service):
    """The attached :class:`ModuleHost` as a service of the App."""

    name = "module_host"
    required = False

    def __init__(self, host: ModuleHost) -> None:
        super().__init__()
        self.host = host

    async def start(self) -> None:
        self.host.bind_app_loop(asyncio.get_running_loop())
        checks = self.host.health
        if checks is not None:
            checks.register_with(self.health)

    async def stop(self) -> None:
        self.host.bind_app_loop(None)
        checks = self.host.health
        if checks is not None:
            for name in checks.names:
                self.health.unregister(name)

    def health_check(self) -> Any:
        status, details = super().health_check()  # type: ignore[misc]
        return status, {**details, "modules": len(self.host.modules), "events": len(self.host.event_types)}


def attach_plugin(host: ModuleHost, app: App) -> None:
    """Add the host's service to ``app`` and make the host injectable."""
    from .host import ModuleHost as HostType

    app.add_service(ModuleHostService(host))
    app.provide(HostType, host)


__all__ = ["HealthStatus", "ModuleHostService", "attach_plugin"]
