"""The ``db`` plugin: a :class:`Database` service from the ``plugins.db:`` settings, at every start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..plugins import AppInit, Plugin
from .database import Database
from .settings import DatabaseSettings

if TYPE_CHECKING:
    import click

    from ..app import App


class DatabasePlugin(Plugin):
    """Adds the :class:`Database` service (injectable by type into actions and services).

    ``App(plugins=[DatabasePlugin()])``, or ``DatabasePlugin(url="postgresql://...")`` to override the
    settings. (``App(services=[Database])`` works too, reading the environment only.)
    """

    name = "db"
    settings_model = DatabaseSettings

    def enabled(self, app: App) -> bool:
        return True

    def on_app_init(self, init: AppInit) -> None:
        config: Any = self.config
        init.add_service(Database(config))

    def cli(self) -> Sequence[click.Command]:
        # One `plugwork db` group: the job store's `migrate` (the queue's) beside Alembic for your models.
        from ..queue.cli import db
        from .cli import COMMANDS

        for command in COMMANDS:
            db.add_command(command)
        return [db]
