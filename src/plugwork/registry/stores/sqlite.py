"""The SQLite :class:`~plugwork.registry.store.RegistryStore`: the embedded default, one file, no server.

Every process on the machine that opens the same file shares one registry (WAL mode, a busy timeout).
Rows past their ``expires_at`` are invisible to every read and deleted by the next registration. The two
tables are created with ``IF NOT EXISTS``: registry data lives seconds, so a schema change would drop
and recreate them rather than migrate rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import orjson

from ...queue.sqlite import sqlite_path
from ..models import Instance, SchemaRecord
from ..store import MAX_INSTANCES, RegistryUnavailable, newest_first

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS plugwork_registry_instances ("
    " instance_id TEXT PRIMARY KEY, service_name TEXT NOT NULL, expires_at REAL NOT NULL,"
    " document TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS plugwork_registry_instances_service"
    " ON plugwork_registry_instances (service_name, expires_at)",
    "CREATE TABLE IF NOT EXISTS plugwork_registry_schemas ("
    " key TEXT PRIMARY KEY, service_name TEXT NOT NULL, service_version TEXT NOT NULL,"
    " published_at REAL NOT NULL, expires_at REAL NOT NULL, document TEXT NOT NULL)",
)
_UPSERT_INSTANCE = (
    "INSERT INTO plugwork_registry_instances (instance_id, service_name, expires_at, document)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET service_name = excluded.service_name,"
    " expires_at = excluded.expires_at, document = excluded.document"
)
_TOUCH_SCHEMA = "UPDATE plugwork_registry_schemas SET expires_at = ? WHERE key = ? AND expires_at > ?"
# Write-once: an expired row is replaced, a live one only has its expiry extended.
_PUBLISH = (
    "INSERT INTO plugwork_registry_schemas"
    " (key, service_name, service_version, published_at, expires_at, document) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET"
    " document = CASE WHEN expires_at <= excluded.published_at THEN excluded.document ELSE document END,"
    " published_at = CASE WHEN expires_at <= excluded.published_at"
    "   THEN excluded.published_at ELSE published_at END,"
    " expires_at = excluded.expires_at"
    " RETURNING published_at"
)


class SQLiteRegistryStore:
    """The registry in a SQLite file (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
                await conn.execute(f"PRAGMA {pragma}")
            for statement in SCHEMA:
                await conn.execute(statement)
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"sqlite {self.path}: {exc}") from exc
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._conn is None:
            await self.open()
        assert self._conn is not None
        async with self._lock:
            conn = self._conn
            try:
                yield conn
            except BaseException as exc:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise RegistryUnavailable(f"sqlite {self.path}: {exc}") from exc
                raise

    async def ping(self) -> None:
        async with self._session() as conn:
            await conn.execute("SELECT 1")

    async def register(self, instance: Instance, ttl: float) -> Instance:
        now = time.time()
        stored = instance.stamped(now, ttl)
        async with self._session() as conn:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute(
                _UPSERT_INSTANCE,
                (stored.instance_id, stored.service_name, stored.expires_at, orjson.dumps(stored.to_json())),
            )
            key = f"{stored.service_name}:{stored.service_version}"
            await conn.execute(_TOUCH_SCHEMA, (stored.expires_at, key, now))
            await conn.execute("DELETE FROM plugwork_registry_instances WHERE expires_at <= ?", (now,))
            await conn.execute("COMMIT")
        return stored

    async def deregister(self, instance_id: str) -> bool:
        async with self._session() as conn:
            cursor = await conn.execute(
                "DELETE FROM plugwork_registry_instances WHERE instance_id = ? AND expires_at > ?",
                (instance_id, time.time()),
            )
            return cursor.rowcount > 0

    async def instances(self, service: str | None = None) -> list[Instance]:
        query = "SELECT document, expires_at FROM plugwork_registry_instances WHERE expires_at > ?"
        params: tuple[object, ...] = (time.time(),)
        if service is not None:
            query += " AND service_name = ?"
            params += (service,)
        query += " ORDER BY service_name, instance_id LIMIT ?"
        async with self._session() as conn:
            rows = await conn.execute_fetchall(query, (*params, MAX_INSTANCES))
        return [Instance.from_document(orjson.loads(row[0])) for row in rows]

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        now = time.time()
        document = orjson.dumps({**record.to_json(), "published_at": None, "expires_at": None})
        async with self._session() as conn:
            rows = await conn.execute_fetchall(
                _PUBLISH,
                (record.key, record.service_name, record.service_version, now, now + ttl, document),
            )
        published = [row[0] for row in rows]
        return published == [now]

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        query = (
            "SELECT document, published_at, expires_at FROM plugwork_registry_schemas"
            " WHERE service_name = ? AND expires_at > ?"
        )
        params: tuple[object, ...] = (service, time.time())
        if version is not None:
            query += " AND service_version = ?"
            params += (version,)
        async with self._session() as conn:
            rows = await conn.execute_fetchall(query, params)
        return newest_first([_schema(row[0], row[1], row[2]) for row in rows])


def _schema(document: str | bytes, published_at: float, expires_at: float) -> SchemaRecord:
    """A record from its stored JSON, with the times of its columns (the JSON's are not kept current)."""
    doc = orjson.loads(document)
    doc["published_at"], doc["expires_at"] = published_at, expires_at
    return SchemaRecord.from_document(doc)
