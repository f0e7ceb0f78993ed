"""The PostgreSQL :class:`~plugwork.registry.store.RegistryStore` (asyncpg): a registry for a fleet.

Two tables whose ``document`` column holds the usvc-lib document as ``jsonb`` (so SQL consumers can query
it like the MongoDB collections). Rows past ``expires_at`` are invisible to every read and deleted by the
next registration; times are the clients' clocks, so keep the fleet's clocks in sync (NTP). The tables
are created ``IF NOT EXISTS`` under an advisory lock, so instances starting together do not race.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from ...extras import require
from ..models import Instance, SchemaRecord, redact_url
from ..store import MAX_INSTANCES, RegistryUnavailable, newest_first

asyncpg = require("asyncpg", extra="postgres")

_LOCK_ID = 0x706C7567_72656769  # "plugregi": serialises table creation between instances
SCHEMA = """
CREATE TABLE IF NOT EXISTS plugwork_registry_instances (
    instance_id text PRIMARY KEY,
    service_name text NOT NULL,
    expires_at double precision NOT NULL,
    document jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS plugwork_registry_instances_service
    ON plugwork_registry_instances (service_name, expires_at);
CREATE INDEX IF NOT EXISTS plugwork_registry_instances_expiry ON plugwork_registry_instances (expires_at);
CREATE TABLE IF NOT EXISTS plugwork_registry_schemas (
    key text PRIMARY KEY,
    service_name text NOT NULL,
    service_version text NOT NULL,
    published_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    document jsonb NOT NULL
);
"""
_REGISTER = """
WITH upsert AS (
    INSERT INTO plugwork_registry_instances (instance_id, service_name, expires_at, document)
    VALUES ($1, $2, $3, $4::jsonb)
    ON CONFLICT (instance_id) DO UPDATE SET service_name = EXCLUDED.service_name,
        expires_at = EXCLUDED.expires_at, document = EXCLUDED.document
    RETURNING 1
), touch AS (
    UPDATE plugwork_registry_schemas SET expires_at = $3 WHERE key = $5 AND expires_at > $6 RETURNING 1
), sweep AS (
    DELETE FROM plugwork_registry_instances WHERE expires_at <= $6 AND instance_id <> $1 RETURNING 1
)
SELECT (SELECT count(*) FROM upsert)
"""
_PUBLISH = """
INSERT INTO plugwork_registry_schemas AS s
    (key, service_name, service_version, published_at, expires_at, document)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (key) DO UPDATE SET
    document = CASE WHEN s.expires_at <= EXCLUDED.published_at THEN EXCLUDED.document ELSE s.document END,
    published_at = CASE WHEN s.expires_at <= EXCLUDED.published_at
        THEN EXCLUDED.published_at ELSE s.published_at END,
    expires_at = EXCLUDED.expires_at
RETURNING published_at
"""


class PostgresRegistryStore:
    """The registry in PostgreSQL tables (see the module docstring)."""

    def __init__(self, url: str, *, max_connections: int = 2, command_timeout: float = 10.0) -> None:
        self.url = url if not url.startswith("postgres:") else "postgresql:" + url[len("postgres:") :]
        self._max_connections = max_connections
        self._command_timeout = command_timeout
        self._pool: Any = None
        self._open_lock = asyncio.Lock()
        self._errors: tuple[type[BaseException], ...] = (
            OSError,
            TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
        )

    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self._max_connections,
                    command_timeout=self._command_timeout,
                    timeout=10.0,
                )
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
                    await conn.execute(SCHEMA)
            except self._errors as exc:
                raise RegistryUnavailable(f"PostgreSQL {redact_url(self.url)}: {exc}") from exc
            self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except TimeoutError:
                pool.terminate()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            await self.open()
        try:
            async with self._pool.acquire(timeout=self._command_timeout) as conn:
                yield conn
        except self._errors as exc:
            raise RegistryUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    async def register(self, instance: Instance, ttl: float) -> Instance:
        now = time.time()
        stored = instance.stamped(now, ttl)
        key = f"{stored.service_name}:{stored.service_version}"
        document = orjson.dumps(stored.to_json()).decode()
        async with self._conn() as conn:
            await conn.fetchval(
                _REGISTER, stored.instance_id, stored.service_name, stored.expires_at, document, key, now
            )
        return stored

    async def deregister(self, instance_id: str) -> bool:
        async with self._conn() as conn:
            status = await conn.execute(
                "DELETE FROM plugwork_registry_instances WHERE instance_id = $1 AND expires_at > $2",
                instance_id,
                time.time(),
            )
        return bool(status != "DELETE 0")

    async def instances(self, service: str | None = None) -> list[Instance]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT document::text FROM plugwork_registry_instances"
                " WHERE expires_at > $1 AND ($2::text IS NULL OR service_name = $2)"
                " ORDER BY service_name, instance_id LIMIT $3",
                time.time(),
                service,
                MAX_INSTANCES,
            )
        return [Instance.from_document(orjson.loads(row[0])) for row in rows]

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        now = time.time()
        document = orjson.dumps({**record.to_json(), "published_at": None, "expires_at": None}).decode()
        async with self._conn() as conn:
            published = await conn.fetchval(
                _PUBLISH, record.key, record.service_name, record.service_version, now, now + ttl, document
            )
        return bool(published == now)

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT document::text, published_at, expires_at FROM plugwork_registry_schemas"
                " WHERE service_name = $1 AND expires_at > $2 AND ($3::text IS NULL OR service_version = $3)",
                service,
                time.time(),
                version,
            )
        records = []
        for row in rows:
            doc = orjson.loads(row[0])
            doc["published_at"], doc["expires_at"] = row[1], row[2]
            records.append(SchemaRecord.from_document(doc))
        return newest_first(records)
