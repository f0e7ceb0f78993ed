"""``plugwork db init|revision|upgrade|downgrade|current|history``: Alembic for the app's own models.

They sit in the ``plugwork db`` group beside the job store's ``plugwork db migrate``; the two schemas
never collide (see :mod:`plugwork.db.migrations`). Every command takes ``--url`` (default: the database
settings, ``PLUGWORK_DATABASE_URL`` and friends, and the ``plugins.db`` section of the ``PLUGWORK_CONFIG``
YAML file) and ``--directory`` (default: ``migrations``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import PlugworkError

url_option = click.option(
    "--url",
    envvar="PLUGWORK_DATABASE_URL",
    default=None,
    help="Database URL [env PLUGWORK_DATABASE_URL, PYMODULES_DB_URL or POSTGRES_*; else .plugwork/app.db].",
)
directory_option = click.option(
    "--directory",
    default=None,
    help="The Alembic environment directory [env PLUGWORK_DATABASE_MIGRATIONS, default migrations].",
)


def db_settings(config_file: str | None = None) -> Any:
    """The database settings as an app would load them: environment, ``.env``, YAML ``plugins.db``."""
    from ..config import load_plugin_settings, load_settings
    from .settings import DatabaseSettings

    return load_plugin_settings(DatabaseSettings, "db", load_settings(config_file))


def _environment(url: str | None, directory: str | None) -> Any:
    from .migrations import MigrationEnvironment

    # env.py imports the project's models: the working directory is importable, as for `plugwork run`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from .settings import normalize_url

    settings = db_settings()
    return MigrationEnvironment(
        directory or settings.migrations, normalize_url(url) if url else settings.resolved_url()
    )


def _run(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except PlugworkError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


@click.command()
@directory_option
@click.option("--models", "models", multiple=True, help="Module defining your models (repeatable).")
def init(directory: str | None, models: tuple[str, ...]) -> None:
    """Create the Alembic environment for your models (env.py, script template, versions/)."""
    from .migrations import write_environment

    path = _run(lambda: write_environment(directory or db_settings().migrations, list(models)))
    click.echo(f"created the migration environment in {path}/")


@click.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@url_option
@directory_option
def revision(message: str, autogenerate: bool, url: str | None, directory: str | None) -> None:
    """Write a new migration revision."""
    _run(lambda: _environment(url, directory).revision(message, autogenerate=autogenerate))


@click.command()
@click.argument("revision", default="head")
@url_option
@directory_option
def upgrade(revision: str, url: str | None, directory: str | None) -> None:
    """Apply your migrations up to REVISION (default: head)."""
    _run(lambda: _environment(url, directory).upgrade(revision))


@click.command()
@click.argument("revision")
@url_option
@directory_option
def downgrade(revision: str, url: str | None, directory: str | None) -> None:
    """Revert your migrations down to REVISION (`-1` for one, `base` for all)."""
    _run(lambda: _environment(url, directory).downgrade(revision))


@click.command()
@click.option("-v", "--verbose", is_flag=True)
@url_option
@directory_option
def current(verbose: bool, url: str | None, directory: str | None) -> None:
    """Show the database's current revision."""
    _run(lambda: _environment(url, directory).current(verbose))


@click.command()
@click.option("-v", "--verbose", is_flag=True)
@url_option
@directory_option
def history(verbose: bool, url: str | None, directory: str | None) -> None:
    """List your migration revisions."""
    _run(lambda: _environment(url, directory).history(verbose))


COMMANDS: tuple[click.Command, ...] = (init, revision, upgrade, downgrade, current, history)
