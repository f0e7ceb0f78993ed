"""The Database service: settings from every naming scheme, lifecycle, health, sync and async actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from db_models import User
from pydantic import BaseModel
from sqlalchemy import select

from plugwork import App, action
from plugwork.db import Base, Database, DatabasePlugin, DatabaseSettings, Repository
from plugwork.errors import ConfigError, ServiceError
from plugwork.testing import TestClient

DB_ENV = (
    "PLUGWORK_DATABASE_URL",
    "PYMODULES_DB_URL",
    "POSTGRES_HOST",
    "ENVIRONMENT",
    "PYMODULES_DB_POOL_SIZE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DB_ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_default_is_an_embedded_sqlite_file() -> None:
    assert DatabaseSettings().resolved_url() == "sqlite+aiosqlite:///.plugwork/app.db"


def test_plugwork_and_pymodules_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYMODULES_DB_URL", "postgresql://u:p@db/app")
    monkeypatch.setenv("PYMODULES_DB_POOL_SIZE", "12")
    s = DatabaseSettings()
    assert s.resolved_url() == "postgresql+asyncpg://u:p@db/app" and s.pool_size == 12
    monkeypatch.setenv("PLUGWORK_DATABASE_URL", "sqlite:///x.db")
    assert DatabaseSettings().resolved_url() == "sqlite+aiosqlite:///x.db"  # PLUGWORK_ wins


def test_vera_environment_selects_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "POSTGRES_HOST": "pg",
        "POSTGRES_PORT": "5433",
        "POSTGRES_USER": "service",
        "POSTGRES_PASSWORD": "p@ss/word",
        "POSTGRES_DB_DEVELOPMENT": "svc_dev",
        "POSTGRES_DB_TEST": "svc_test",
        "POSTGRES_DB_PRODUCTION": "svc_prod",
    }.items():
        monkeypatch.setenv(name, value)
    assert DatabaseSettings().resolved_url() == "postgresql+asyncpg://service:p%40ss%2Fword@pg:5433/svc_test"
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert DatabaseSettings().resolved_url().endswith("/svc_prod")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ConfigError, match="ENVIRONMENT"):
        DatabaseSettings().resolved_url()


async def test_a_wrong_url_fails_the_start_without_showing_the_password(tmp_path: Path) -> None:
    db = Database(url="postgresql://user:hunter2@127.0.0.1:1/nope")
    with pytest.raises(ConnectionError) as info:
        await db.start()
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
    app = App("x", plugins=[DatabasePlugin(url="postgresql://user:hunter2@127.0.0.1:1/nope")])
    with pytest.raises(ServiceError) as failed:
        async with TestClient(app, worker=False):
            pass
    assert "hunter2" not in str(failed.value) and "cannot connect" in str(failed.value)


async def test_health_reports_the_pool(db: Database) -> None:
    status, details = await db.health_check()
    assert status.name == "GREEN" and details["pool_in_use"] == 0
    assert "password" not in str(details)


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    async with db.transaction() as session:
        session.add(User(name="a", email="a@x.org"))
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as session:
            session.add(User(name="b", email="b@x.org"))
            await session.flush()
            1 / 0  # noqa: B018
    async with db.session() as session:
        names = (await session.scalars(select(User.name))).all()
    assert names == ["a"]


async def test_teardown_drops_the_tables_but_never_in_production(db: Database) -> None:
    await db.teardown()
    await db.create_all()
    prod = Database(db.settings.model_copy(update={"environment": "production"}))
    with pytest.raises(ConfigError, match="production"):
        await prod.teardown()


class Empty(BaseModel):
    pass


class NewUser(BaseModel):
    name: str
    email: str


@action("add_user")
async def add_user(input: NewUser, db: Database) -> dict[str, str]:
    user = await Repository(db, User).create(name=input.name, email=input.email)
    return {"id": str(user.id)}


@action("count_users_sync")
def count_users_sync(input: Empty, db: Database) -> dict[str, int]:
    with db.sync_session() as session:
        return {"count": len(session.scalars(select(User)).all())}


@action("add_user_sync")
def add_user_sync(input: NewUser, db: Database) -> dict[str, str]:
    with db.sync_transaction() as session:
        user = User(name=input.name, email=input.email)
        session.add(user)
        session.flush()
        return {"id": str(user.id)}


async def test_async_and_sync_actions_get_the_database_by_type(db_url: str) -> None:
    app = App(
        "users", actions=[add_user, count_users_sync, add_user_sync], plugins=[DatabasePlugin(url=db_url)]
    )
    async with TestClient(app, worker=False) as client:
        await client.app.get(Database).create_all(Base.metadata)
        await client.call("add_user", name="a", email="a@x.org")
        await client.call("add_user_sync", name="b", email="b@x.org")
        assert await client.call("count_users_sync") == {"count": 2}
        report = await client.app.health.report()
        assert report.checks["database"]["status"] == "GREEN"
    assert client.app.get(Database).url  # the service stays inspectable after stop


async def test_the_plugin_reads_its_yaml_section(tmp_path: Path) -> None:
    config = tmp_path / "plugwork.yaml"
    config.write_text(f"plugins:\n  db:\n    url: sqlite:///{tmp_path}/yaml.db\n    pool_size: 3\n")
    app = App("users", actions=[add_user], plugins=[DatabasePlugin()])
    async with TestClient(app, config_file=str(config), worker=False) as client:
        db = client.app.get(Database)
        assert db.url == f"sqlite+aiosqlite:///{tmp_path}/yaml.db" and db.settings.pool_size == 3
    assert (tmp_path / "yaml.db").exists()
