"""Shared fixtures. Tests that need a real server use it; a missing server skips locally and fails in CI."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

POSTGRES_URL = os.environ.get("PLUGWORK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server(name: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose server is missing."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing server is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A URL to a fresh, empty PostgreSQL schema of its own, dropped after the test.

    The schema is selected through ``search_path`` in the URL, which asyncpg passes as a server setting,
    so tests running at the same time never see each other's tables.
    """
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dev dependency
        require_server("PostgreSQL", "asyncpg is not installed")
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        require_server("PostgreSQL", f"{POSTGRES_URL}: {exc}")
    schema = f"t_{secrets.token_hex(6)}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
