"""The versioned migrations and the fresh schema (schema.sql) must describe the same database."""

from __future__ import annotations

import re
import secrets
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from plugwork.queue.postgres import PostgresJobStore
from plugwork.queue.sql import fresh_schema, migrations, queries
from plugwork.queue.sqlite import SQLiteJobStore


def _norm(sql: str | None) -> str:
    # SQLite keeps a table's CREATE text as written and appends "ALTER TABLE ... ADD COLUMN" columns to
    # it, so spacing around commas and parentheses is all that may differ.
    text = re.sub(r"\s+", " ", sql or "").strip()
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def _sqlite_objects(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        return {(t, n, _norm(s)) for t, n, s in rows if n != "plugwork_migrations"}


async def test_sqlite_migrations_match_fresh_schema(tmp_path: Path) -> None:
    store = SQLiteJobStore(f"sqlite:///{tmp_path}/migrated.db")
    await store.open()
    await store.close()
    fresh = tmp_path / "fresh.db"
    with sqlite3.connect(fresh) as conn:
        conn.executescript(fresh_schema("sqlite"))
    migrated = _sqlite_objects(tmp_path / "migrated.db")
    assert migrated == _sqlite_objects(fresh)
    assert any(name == "plugwork_jobs" for _, name, _ in migrated)


async def _pg_catalog(conn: asyncpg.Connection, schema: str) -> dict[str, object]:
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
        "FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'plugwork_migrations' "
        "ORDER BY table_name, ordinal_position",
        schema,
    )
    indexes = await conn.fetch(
        "SELECT indexname, replace(indexdef, $1 || '.', '') FROM pg_indexes WHERE schemaname = $1 "
        "AND tablename <> 'plugwork_migrations' ORDER BY indexname",
        schema,
    )
    constraints = await conn.fetch(
        "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 "
        "AND c.conrelid::regclass::text NOT LIKE '%plugwork_migrations' ORDER BY 1",
        schema,
    )
    triggers = await conn.fetch(
        "SELECT trigger_name, event_manipulation, action_timing, replace(action_statement, $1 || '.', '') "
        "FROM information_schema.triggers WHERE trigger_schema = $1 ORDER BY 1",
        schema,
    )
    functions = await conn.fetch(
        "SELECT p.proname, p.prosrc, p.proconfig FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1",
        schema,
    )
    return {
        "columns": [tuple(r) for r in columns],
        "indexes": [tuple(r) for r in indexes],
        "constraints": [tuple(r) for r in constraints],
        "triggers": [tuple(r) for r in triggers],
        "functions": [tuple(r) for r in functions],
    }


async def test_postgres_migrations_match_fresh_schema(postgres_url: str) -> None:
    store = PostgresJobStore(postgres_url, auto_migrate=False)
    assert await store.migrate() == [m.version for m in migrations("postgres")]
    assert await store.migrate() == []
    await store.close()
    migrated_schema = postgres_url.rsplit("search_path=", 1)[1]
    fresh_name = f"f_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE SCHEMA {fresh_name}")
        try:
            await conn.execute(f"SET search_path = {fresh_name}")
            await conn.execute(fresh_schema("postgres"))
            migrated = await _pg_catalog(conn, migrated_schema)
            fresh = await _pg_catalog(conn, fresh_name)
        finally:
            await conn.execute(f"DROP SCHEMA {fresh_name} CASCADE")
    finally:
        await conn.close()
    assert migrated["columns"], "the migrated schema has no tables"
    assert migrated == fresh


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_named_queries_load(dialect: str) -> None:
    names = set(queries(dialect))
    assert {"enqueue", "claim", "finish", "renew", "release", "reclaim_lost", "purge"} <= names
    assert all(queries(dialect)[n] for n in names)


def test_store_from_url_picks_the_store() -> None:
    from plugwork.errors import ConfigError
    from plugwork.queue import store_from_url
    from plugwork.queue.memory import MemoryJobStore
    from plugwork.queue.sqlite import sqlite_path

    assert isinstance(store_from_url("memory://"), MemoryJobStore)
    assert isinstance(store_from_url("sqlite:///.plugwork/jobs.db"), SQLiteJobStore)
    assert isinstance(store_from_url("postgres://u@h/db"), PostgresJobStore)
    assert store_from_url("postgres://u@h/db").url == "postgresql://u@h/db"
    assert sqlite_path("sqlite:///.plugwork/jobs.db") == ".plugwork/jobs.db"
    assert sqlite_path("sqlite:////var/lib/jobs.db") == "/var/lib/jobs.db"
    with pytest.raises(ConfigError, match="PLUGWORK_QUEUE_URL"):
        store_from_url("redis://localhost")
