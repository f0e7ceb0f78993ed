"""The embedded SQLite hub store (the default): one aiosqlite connection, WAL, an outbox of change events.

Changes made by another process (the ``plugwork hub`` CLI) reach a running hub through the
``plugboard_events`` table, which the hub polls; rows older than a minute are pruned, so a token value in a
``token_created`` event does not outlive its delivery for long.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import orjson

from ...errors import ConfigError, StoreError
from .store import Executor, HubEvent, HubStore, Row

if TYPE_CHECKING:
    from .backplane import Backplane
    from .core import Hub

_PLACEHOLDER = re.compile(r"\$(\d+)")
EVENT_RETENTION_SECONDS = 60.0


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path`` -> ``rel/path``; ``sqlite:////abs/path`` -> ``/abs/path`` (as SQLAlchemy)."""
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"SQLite store URL must look like sqlite:///path, got {url!r}", key="store")
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path:
        raise ConfigError("SQLite store URL has no path", key="store")
    return path


class _SQLiteExecutor:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]:
        async with self.db.execute(_PLACEHOLDER.sub(r"?\1", query), args) as cursor:
            rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def execute(self, query: str, *args: Any) -> None:
        await self.db.execute(_PLACEHOLDER.sub(r"?\1", query), args)


class SQLiteHubStore(HubStore):
    """The hub store in one SQLite file (or ``:memory:``)."""

    dialect = "sqlite"

    def backplane(self, hub: Hub) -> Backplane:
        """A single hub: store events are polled from the outbox table."""
        from .backplane import LocalBackplane

        return LocalBackplane(hub, self, poll_interval=hub.settings.event_poll_interval)

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = sqlite_path(url)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except Exception as exc:
            raise StoreError(f"cannot open SQLite hub store {self.path!r}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON", "synchronous=NORMAL"):
            await db.execute(f"PRAGMA {pragma}")
        self._db = db
        async with self.transaction() as conn:
            await self._migrate(conn, self._script(db))

    @staticmethod
    def _script(db: aiosqlite.Connection) -> Any:
        async def run(script: str) -> None:
            # executescript would COMMIT the open transaction; run the statements one by one instead.
            for statement in script.split(";"):
                body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
                if body.strip():
                    await db.execute(body)

        return run

    async def close(self) -> None:
        async with self._lock:  # after the transaction in progress, if any
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        if self._db is None:
            raise StoreError("the hub store is not open")
        db = self._db
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteExecutor(db)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def emit(self, conn: Executor, event: HubEvent) -> None:
        await conn.execute(
            "INSERT INTO plugboard_events (body, created_at) VALUES ($1, $2)",
            orjson.dumps(event).decode(),
            time.time(),
        )

    async def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none): a hub starts polling after it."""
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT max(id) AS id FROM plugboard_events")
        return int(rows[0]["id"] or 0)

    async def events_after(self, after_id: int, limit: int = 500) -> list[tuple[int, HubEvent]]:
        """Events newer than ``after_id``, oldest first, at most ``limit``."""
        async with self.transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, body FROM plugboard_events WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit
            )
        return [(int(row["id"]), orjson.loads(row["body"])) for row in rows]

    async def prune_events(self, retention: float = EVENT_RETENTION_SECONDS) -> None:
        """Forget events older than ``retention`` seconds (every hub has long polled them)."""
        async with self.transaction() as conn:
            await conn.execute("DELETE FROM plugboard_events WHERE created_at < $1", time.time() - retention)
