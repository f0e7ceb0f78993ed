"""Fixtures of the queue tests: one ``store`` fixture over memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugwork.queue import JobStore, store_from_url

STORES = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A URL to a fresh store of each kind (a sync fixture, so it may pull in the async postgres_url)."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    """A fresh, open store of each kind."""
    st = store_from_url(store_url)
    await st.open()
    try:
        yield st
    finally:
        await st.close()
