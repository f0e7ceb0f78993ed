"""The PostgreSQL hub store (asyncpg): production scale, and the backplane that lets hubs act as one.

Change events go out with ``pg_notify`` inside the changing transaction, so they are delivered exactly when
the change commits. Channel names carry a digest of the current schema: hubs on different schemas of one
database never hear each other. Payloads over 8000 bytes (PostgreSQL's NOTIFY limit) are stored as a
``plugboard_payloads`` row and the notification carries ``@<id>`` instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson

from ...errors import StoreError
from ...extras import require
from .store import Executor, HubEvent, HubStore, Row

NOTIFY_LIMIT = 7900  # bytes; PostgreSQL refuses payloads of 8000 bytes or more
LARGE_PREFIX = "@"

if TYPE_CHECKING:
    import asyncpg

    from .backplane import Backplane
    from .core import Hub
else:
    asyncpg = require("asyncpg", extra="postgres")


class _PgExecutor:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]:
        rows: Sequence[Row] = await self.conn.fetch(query, *args)
        return rows

    async def execute(self, query: str, *args: Any) -> None:
        await self.conn.execute(query, *args)


async def notify(conn: Any, channel: str, body: str) -> None:
    """``NOTIFY channel`` with ``body``, through a payload row when it is too large for a notification."""
    if len(body) > NOTIFY_LIMIT // 4 and len(body.encode()) > NOTIFY_LIMIT:
        row_id = await conn.fetchval("INSERT INTO plugboard_payloads (body) VALUES ($1) RETURNING id", body)
        body = f"{LARGE_PREFIX}{row_id}"
    await conn.execute("SELECT pg_notify($1, $2)", channel, body)


class PostgresHubStore(HubStore):
    """The hub store on PostgreSQL, through an asyncpg pool."""

    dialect = "postgres"

    def backplane(self, hub: Hub) -> Backplane:
        """Hubs on one database act as one, through ``LISTEN``/``NOTIFY``."""
        from .pgbackplane import PostgresBackplane

        return PostgresBackplane(
            hub,
            self,
            heartbeat_interval=hub.settings.heartbeat_interval,
            dead_after=hub.settings.dead_after,
        )

    def __init__(self, url: str, *, pool_size: int = 4, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.pool_size = pool_size
        self._pool: Any = None
        self.channel_prefix = "pb"

    @property
    def pool(self) -> Any:
        """The asyncpg pool (for the backplane)."""
        if self._pool is None:
            raise StoreError("the hub store is not open")
        return self._pool

    @property
    def events_channel(self) -> str:
        return f"{self.channel_prefix}_events"

    def hub_channel(self, hub_id: str) -> str:
        """The channel a hub listens on for requests and responses addressed to it."""
        return f"{self.channel_prefix}_h_{hub_id.replace('-', '')[:24]}"

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, timeout=10, command_timeout=30
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to the PostgreSQL hub store: {exc}") from exc
        async with self._pool.acquire() as conn:
            schema = await conn.fetchval("SELECT current_schema()")
            self.channel_prefix = "pb_" + hashlib.sha256(str(schema).encode()).hexdigest()[:10]
            async with conn.transaction():
                # Hubs starting together must not race on the migrations.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.plugboard'))")
                await self._migrate(_PgExecutor(conn), conn.execute)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield _PgExecutor(conn)

    async def emit(self, conn: Executor, event: HubEvent) -> None:
        assert isinstance(conn, _PgExecutor)
        await notify(conn.conn, self.events_channel, orjson.dumps(event).decode())

    async def read_payload(self, body: str, *, consume: bool) -> str:
        """Resolve a notification body: itself, or the payload row it points at (deleted if ``consume``)."""
        if not body.startswith(LARGE_PREFIX):
            return body
        row_id = int(body[len(LARGE_PREFIX) :])
        query = (
            "DELETE FROM plugboard_payloads WHERE id = $1 RETURNING body"
            if consume
            else ("SELECT body FROM plugboard_payloads WHERE id = $1")
        )
        value = await self.pool.fetchval(query, row_id)
        if value is None:
            raise StoreError(f"payload row {row_id} is gone")
        return str(value)
