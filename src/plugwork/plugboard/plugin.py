"""The Plugboard consumer as a built-in plugin, and the ``plugwork hub`` commands.

Enabled when ``plugboard_url`` is set: the app connects to that hub as a consumer and serves its actions to
the hub's producers, carrying context (correlation id, trace...) in the request and response messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..plugins import Background, Component, Plugin

if TYPE_CHECKING:
    import click

    from ..app import App
    from .consumer import PlugboardConsumer


class PlugboardPlugin(Plugin):
    """Serve the app's actions to a Plugboard hub (see the module docstring)."""

    name = "plugboard"

    def __init__(self) -> None:
        super().__init__()
        self.consumer: PlugboardConsumer | None = None

    def enabled(self, app: App) -> bool:
        settings = app.settings
        if not settings.plugboard_url:
            return False
        if settings.plugboard_token is None or not settings.plugboard_token.get_secret_value():
            raise ConfigError(
                "a service API token is required when plugboard_url is set", key="plugboard_token"
            )
        return True

    async def start(self, app: App) -> Component | None:
        from .consumer import PlugboardConsumer

        settings = app.settings
        assert settings.plugboard_url is not None and settings.plugboard_token is not None
        consumer = self.consumer = PlugboardConsumer(
            settings.plugboard_url,
            settings.plugboard_token.get_secret_value(),
            app.dispatcher,
            app.actions,
            vsn=settings.plugboard_protocol,
            max_in_flight=settings.plugboard_max_in_flight,
            carriers=app.carriers,
        )
        app.health.register("plugboard", consumer.health)
        return Background("plugboard", consumer.run(), consumer.stop)

    def cli(self) -> Sequence[click.Command]:
        # `plugwork run` and `plugwork worker` must not pay for importing the hub server (its store,
        # router, uvicorn protocols): the hub's commands load when `plugwork hub ...` runs.
        return [_lazy_hub_command()]


def _lazy_hub_command() -> click.Command:
    import click

    class LazyHub(click.Command):
        """Stands for ``plugwork hub`` in the command list; parsing and running use the real group."""

        def make_context(
            self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
        ) -> click.Context:
            from .hub.cli import hub

            return hub.make_context(info_name, args, parent, **extra)

    return LazyHub("hub", help="Run a Plugboard hub, and manage its accounts, services and tokens.")
