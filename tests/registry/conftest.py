"""Fixtures of the registry tests: one ``registry_url`` over the five stores, each fresh per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from registry_helpers import require_server

from plugwork.registry.store import RegistryStore, store_from_url
from support.mongo_wire import mongo_wire_server, mongo_wire_uri  # noqa: F401  (fixtures)

STORES = ["memory", "sqlite", "postgres", "redis", "mongodb"]
REDIS_URL = os.environ.get("PLUGWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis registry URL with a key prefix of its own, whose keys are deleted after the test."""
    try:
        import redis.asyncio as aioredis
    except ImportError:  # pragma: no cover - redis is a dev dependency
        require_server("Redis", "the redis package is not installed")
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        require_server("Redis", f"{REDIS_URL}: {exc}")
    prefix = f"pwtest:{secrets.token_hex(6)}:"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def mongodb_url(mongo_wire_uri: str) -> str:  # noqa: F811  (the fixture, not the import)
    """A MongoDB registry URL naming a fresh database of its own (on the session's CongoDB server)."""
    return mongo_wire_uri


@pytest.fixture(params=STORES)
def registry_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A URL to a fresh registry store of each kind."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def store(registry_url: str) -> AsyncIterator[RegistryStore]:
    """A fresh, open store of each kind."""
    st = store_from_url(registry_url)
    await st.open()
    try:
        yield st
    finally:
        await st.close()
