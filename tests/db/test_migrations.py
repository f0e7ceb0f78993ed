"""Alembic for the user's models: init, autogenerate, upgrade, downgrade, current, history."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from plugwork.cli import main
from plugwork.db import Database
from plugwork.queue import store_from_url

MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from plugwork.db import Base, SoftDeleteMixin, TimestampMixin, UUIDMixin


class Customer(UUIDMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "customers"

    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
"""


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        db = Database(url=url)  # one per event loop: a pool belongs to the loop that made it
        try:
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await db.stop()

    return asyncio.run(read())


def _queue_url(db_url: str) -> str:
    return db_url.replace("sqlite+aiosqlite:", "sqlite:")


def test_init_autogenerate_upgrade_downgrade_on_a_fresh_database(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs in a sync test (Alembic runs its own event loop), with the models in a module of the project.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # One module name for every backend: a second import is the cached module, so its tables are defined
    # once on the shared Base.metadata.
    models = "shop_models_for_migrations"
    (tmp_path / f"{models}.py").write_text(textwrap.dedent(MODELS))
    # The queue's own tables live in the same database: the user's migrations must leave them alone.
    asyncio.run(_open_queue(_queue_url(db_url)))

    cli = CliRunner()
    env = {"PLUGWORK_DATABASE_URL": db_url}
    result = cli.invoke(main, ["db", "init", "--models", models], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "migrations" / "env.py").is_file()
    assert cli.invoke(main, ["db", "init"], env=env).exit_code == 1  # never overwrites

    result = cli.invoke(main, ["db", "revision", "--autogenerate", "-m", "customers"], env=env)
    assert result.exit_code == 0, result.output
    [revision] = list((tmp_path / "migrations" / "versions").glob("*customers.py"))
    text = revision.read_text()
    assert "create_table('customers'" in text
    assert "plugwork_jobs" not in text  # the queue's table is not proposed for dropping

    assert cli.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    tables = _tables(db_url)
    assert {"customers", "alembic_version", "plugwork_jobs"} <= tables
    current = cli.invoke(main, ["db", "current"], env=env)
    assert current.exit_code == 0 and revision.name.split("_")[0] in current.output
    history = cli.invoke(main, ["db", "history"], env=env)
    assert "customers" in history.output

    assert cli.invoke(main, ["db", "downgrade", "base"], env=env).exit_code == 0
    tables = _tables(db_url)
    assert "customers" not in tables and "plugwork_jobs" in tables

    # The same environment from code: Vera's migrate() and teardown().
    async def from_code() -> set[str]:
        database = Database(url=db_url)
        await database.migrate()
        async with database.engine.connect() as conn:
            found = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        await database.stop()
        return found

    assert "customers" in asyncio.run(from_code())
    assert cli.invoke(main, ["db", "migrate", "--queue-url", _queue_url(db_url)]).exit_code == 0


async def _open_queue(url: str) -> None:
    store = store_from_url(url)
    await store.open()
    await store.close()


def test_commands_without_an_environment_say_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and "plugwork db init" in result.output
