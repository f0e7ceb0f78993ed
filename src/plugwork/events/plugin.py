"""How an attached host lives inside an App: a plugin following the App's starts and stops.

At each start it makes the host injectable (``host: ModuleHost`` in an action or service), feeds the
host's :class:`~plugwork.events.health.HealthCheck` checks to the App's health registry (``/health``, and
``/health/ready`` for the readiness ones), answers ``/health/live`` from the liveness ones
(:mod:`.liveness`), and points ``host.handle`` (sync callers) at the App's event loop, so that events run
on the App's dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..plugins import AppInit, ASGIApp, Background, Component, Plugin

if TYPE_CHECKING:
    from ..app import App
    from .host import ModuleHost


class EventsPlugin(Plugin):
    """The attached :class:`ModuleHost`'s part in an App (added by :meth:`ModuleHost.attach`)."""

    name = "events"

    def __init__(self, host: ModuleHost, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.host = host

    def on_app_init(self, init: AppInit) -> None:
        from .host import ModuleHost

        init.provide(ModuleHost, self.host)
        checks = self.host.health
        if checks is not None:
            for name, probe, readiness in checks.probes():
                init.add_health_check(name, probe, required=readiness)

    def asgi_middleware(self, app: App) -> Sequence[Callable[[ASGIApp], ASGIApp]]:
        checks = self.host.health
        if checks is None or not any(checks.is_liveness(name) for name in checks.names):
            return ()
        from .liveness import LivenessProbe

        return [lambda inner: LivenessProbe(inner, checks)]

    async def start(self, app: App) -> Component | None:
        host = self.host
        host.bind_app_loop(asyncio.get_running_loop())

        async def unbind() -> None:
            host.bind_app_loop(None)

        return Background("events", None, stop=unbind)
