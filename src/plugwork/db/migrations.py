"""Alembic for the app's own models: the environment ``plugwork db init`` writes, and the commands.

No ``alembic.ini`` is needed: :class:`MigrationEnvironment` builds Alembic's config in code from the
migrations directory and the database URL (passed as an attribute, never through the ini parser, so
passwords with ``%`` need no escaping and never land in a file). The generated ``env.py`` imports your
models and calls :func:`run_migrations`, which runs them on the async engine (``asyncpg``, ``aiosqlite``).

The job queue keeps its own schema (``plugwork db migrate``, tables named ``plugwork_*``, its own version
table); autogenerate here skips every ``plugwork_*`` table that is not one of your models, so it never
proposes to drop the queue's tables and the two never collide.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..extras import require

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

URL_ATTRIBUTE = "plugwork_database_url"
RESERVED_PREFIX = "plugwork_"

ENV_TEMPLATE = '''"""Alembic environment for this service's models (from `plugwork db init`; edit freely).

Run it with `plugwork db upgrade`, `plugwork db revision --autogenerate -m "..."`, or `await db.migrate()`.
The database URL comes from PLUGWORK_DATABASE_URL (and the other names in docs/database.md).
"""

from plugwork.db import Base
from plugwork.db.migrations import run_migrations

{imports}
run_migrations(Base.metadata)
'''


def write_environment(directory: str | Path, models: list[str]) -> Path:
    """Create ``directory`` with ``env.py``, ``script.py.mako`` and ``versions/``; refuse to overwrite."""
    alembic = require("alembic", extra="db")
    path = Path(directory)
    if (path / "env.py").exists():
        raise ConfigError(f"{path}/env.py already exists", key="migrations")
    (path / "versions").mkdir(parents=True, exist_ok=True)
    imports = "\n".join(
        f"import {module}  # noqa: F401 - registers its models on Base.metadata" for module in models
    )
    (path / "env.py").write_text(
        ENV_TEMPLATE.format(imports=imports or "# import myservice.models  # your models")
    )
    template = Path(str(alembic.__file__)).parent / "templates" / "async" / "script.py.mako"
    shutil.copyfile(template, path / "script.py.mako")
    return path


class MigrationEnvironment:
    """Alembic commands over the environment in ``directory`` and the database at ``url``."""

    def __init__(self, directory: str | Path, url: str) -> None:
        self.directory = Path(directory)
        self.url = url

    def config(self) -> Any:
        """Alembic's ``Config`` for this environment."""
        config_module = require("alembic.config", extra="db")
        if not (self.directory / "env.py").is_file():
            raise ConfigError(
                f"no Alembic environment in {self.directory}/ (create it with `plugwork db init`)",
                key="migrations",
            )
        # Alembic's default stdout is bound when it is imported: pass the current one (the CLI's).
        config = config_module.Config(stdout=sys.stdout)
        config.set_main_option("script_location", str(self.directory))
        config.attributes[URL_ATTRIBUTE] = self.url
        return config

    def _command(self) -> Any:
        return require("alembic.command", extra="db")

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``."""
        self._command().upgrade(self.config(), revision)

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to ``revision`` (``base`` for all, ``-1`` for one)."""
        self._command().downgrade(self.config(), revision)

    def revision(self, message: str, *, autogenerate: bool = False) -> Any:
        """Write a new revision file (compared against the models when ``autogenerate``)."""
        return self._command().revision(self.config(), message=message, autogenerate=autogenerate)

    def current(self, verbose: bool = False) -> None:
        """Print the database's current revision."""
        self._command().current(self.config(), verbose=verbose)

    def history(self, verbose: bool = False) -> None:
        """Print the revisions, newest first."""
        self._command().history(self.config(), verbose=verbose)


def _include_name(metadata: MetaData) -> Any:
    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        # Tables of Plugwork's own stores live beside the app's: never the app's migrations' business.
        if type_ == "table" and name and name.startswith(RESERVED_PREFIX):
            return name in metadata.tables
        return True

    return include


def run_migrations(metadata: MetaData, url: str | None = None) -> None:
    """Run Alembic's migrations against ``metadata`` (called by the generated ``env.py``)."""
    from alembic import context

    from .database import Database

    config = context.config
    url = url or config.attributes.get(URL_ATTRIBUTE) or config.get_main_option("sqlalchemy.url")
    db = Database(url=url) if url else Database()
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "include_name": _include_name(metadata),
        "compare_type": True,
        # SQLite cannot ALTER most things: Alembic's batch mode rebuilds the table instead.
        "render_as_batch": db.url.startswith("sqlite"),
    }
    if context.is_offline_mode():
        context.configure(url=db.url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        try:
            async with db.engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await db.stop()

    asyncio.run(online())
