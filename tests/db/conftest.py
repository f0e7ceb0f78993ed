"""A :class:`Database` on SQLite and on the real PostgreSQL, with the test models' tables created."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from plugwork.db import Base, Database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a fresh database of each kind (sync, so that it may pull in the async postgres_url)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/app.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(url=db_url)
    await database.start()
    try:
        await database.create_all(Base.metadata)
        yield database
    finally:
        await database.stop()
