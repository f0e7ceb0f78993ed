"""The SQLite :class:`~plugwork.queue.store.JobStore`: the embedded default, one file, no server.

WAL mode with ``synchronous=NORMAL``: a commit survives a crash of the process (not of the machine's
power). Several worker processes may share the file; claims are single ``UPDATE ... RETURNING``
statements, so SQLite's write lock makes them atomic. One connection per store, its statements
serialised by a lock so that the transactions of concurrent coroutines never interleave.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from .browse import JobQuery, page_sql
from .heartbeat import BEAT_TIMEOUT
from .jobs import (
    ACTIVE,
    MAX_HANDBACKS,
    ClaimedJob,
    Finish,
    Job,
    JobStatus,
    NewJob,
    decode_headers,
    decode_json,
    from_epoch,
    parse_job_id,
    utc_from_epoch,
)
from .sql import migrations, queries
from .store import StoreUnavailable, WorkerBeat, all_statuses_zero, wait_event

_Q = queries("sqlite")
ENQUEUE_CHUNK = 20_000
"""Jobs per INSERT statement; bigger enqueues run as several statements in one transaction."""
WATCH_INTERVAL = 0.02
"""Seconds between looks at the WAL file while waiting: how soon another process's enqueue is seen."""


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    path = url[len("sqlite://") :]
    path = path.split("?", 1)[0]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///x.db is relative, sqlite:////abs/x.db absolute (SQLAlchemy's rule)
    return path or ":memory:"


class SQLiteJobStore:
    """Jobs in a SQLite file (see the module docstring for the durability it gives)."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._auto_migrate = auto_migrate
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._cancel_wake = asyncio.Event()
        self._wal = None if self.path == ":memory:" else self.path + "-wal"
        self._wal_at_claim: tuple[int, int, int] | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            await conn.execute(f"PRAGMA {pragma}")
        self._conn = conn
        if self._auto_migrate:
            await self.migrate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def ping(self) -> None:
        async with self._session() as conn:
            await conn.execute("SELECT 1")

    @asynccontextmanager
    async def _session(self, transaction: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        if self._conn is None:
            await self.open()
        conn = self._conn
        assert conn is not None
        async with self._lock:
            try:
                if transaction:
                    await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if transaction and conn.in_transaction:
                        await conn.execute("ROLLBACK")
                    raise
                if transaction:
                    await conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

    async def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; return their versions."""
        applied: list[int] = []
        async with self._session() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS plugwork_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            await conn.execute("BEGIN IMMEDIATE")
            try:
                rows = await conn.execute_fetchall("SELECT version FROM plugwork_migrations")
                done = {r[0] for r in rows}
                for mig in migrations("sqlite"):
                    if mig.version in done:
                        continue
                    for statement in _split(mig.sql):
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO plugwork_migrations VALUES (?, ?, ?)",
                        (mig.version, mig.name, time.time()),
                    )
                    applied.append(mig.version)
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return applied

    def _notify(self) -> None:
        self._wake.set()

    def _wal_stamp(self) -> tuple[int, int, int] | None:
        """The WAL file's (mtime, size, inode): it changes whenever any process commits a write."""
        if self._wal is None:
            return None
        try:
            st = os.stat(self._wal)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    async def wait_for_jobs(self, timeout: float) -> None:
        # This process's own writes set the event. Another process's commit (`plugwork run` enqueuing
        # for a `plugwork worker`) changes the WAL file: one stat() every WATCH_INTERVAL notices it, with
        # no thread hop and no query, where waiting for the poll interval would idle for up to a second.
        # The stamp was taken before the last claim, so a commit that raced with it is not missed.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = self._wal_at_claim
        while not self._wake.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._wal is None:  # an in-memory database: no other process can write it
                await wait_event(self._wake, remaining)
                return
            try:
                async with asyncio.timeout(min(WATCH_INTERVAL, remaining)):
                    await self._wake.wait()
            except TimeoutError:
                if self._wal_stamp() != seen:
                    break
        self._wake.clear()

    async def wait_for_cancellations(self, timeout: float) -> None:
        # Only this process's own cancellations wake us; the worker's lease renewal finds the others.
        await wait_event(self._cancel_wake, timeout)

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TypeError("the SQLite store cannot join another connection's transaction")
        if not jobs:
            return []
        ids: list[str] = []
        async with self._session(transaction=True) as conn:
            for start in range(0, len(jobs), ENQUEUE_CHUNK):
                ids += await _insert(conn, jobs[start : start + ENQUEUE_CHUNK])
        self._notify()
        return ids

    async def claim(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[ClaimedJob]:
        now = time.time()
        qjson = None if queues is None else json.dumps(list(queues))
        self._wal_at_claim = self._wal_stamp()
        async with self._session() as conn:
            rows = await conn.execute_fetchall(
                _Q["claim"], (now, worker_id, now + lease_seconds, qjson, limit)
            )
        return [ClaimedJob(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def start(self, worker_id: str, ids: Sequence[str]) -> None:
        if ids:
            async with self._session(transaction=True) as conn:
                await conn.executemany(_Q["start"], [(worker_id, int(i)) for i in ids])

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        if not results:
            return 0
        now = time.time()
        params = [(worker_id, int(r.id), r.status.value, r.result, r.error, r.run_at, now) for r in results]
        async with self._session(transaction=True) as conn:
            before = conn.total_changes
            await conn.executemany(_Q["finish"], params)
            changed = conn.total_changes - before
        if any(r.status is JobStatus.FAILED for r in results):
            self._notify()
        return changed

    async def renew(self, worker_id: str, ids: Sequence[str], lease_seconds: float) -> set[str]:
        now = time.time()
        params = (worker_id, now + lease_seconds, json.dumps([int(i) for i in ids]))
        async with self._session(transaction=True) as conn:
            rows = await conn.execute_fetchall(_Q["renew"], params) if ids else []
            await conn.execute(_Q["worker_renewed"], (worker_id, now))
        return {str(r[0]) for r in rows}

    async def release(self, worker_id: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self._session(transaction=True) as conn:
            before = conn.total_changes
            await conn.executemany(_Q["release"], [(worker_id, int(i)) for i in ids])
            changed = conn.total_changes - before
        self._notify()
        return changed

    async def reclaim_expired(self, *, silent_workers: bool = True, expired_leases: bool = True) -> int:
        now = time.time()
        async with self._session() as conn:
            if not await conn.execute_fetchall(_Q["reclaim_probe"], (now, silent_workers, expired_leases)):
                return 0  # the common case costs a read, never SQLite's write lock
            await conn.execute("BEGIN IMMEDIATE")
            try:
                params = (now, MAX_HANDBACKS, silent_workers, expired_leases)
                cur = await conn.execute(_Q["reclaim_lost"], params)
                changed = cur.rowcount
                if silent_workers:
                    await conn.execute(_Q["forget_lost_workers"], (now,))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        if changed:
            self._notify()
        return changed

    async def workers(self) -> list[WorkerBeat]:
        async with self._session() as conn:
            rows = list(await conn.execute_fetchall(_Q["workers"], (time.time(),)))
        return [WorkerBeat(r["id"], max(0.0, r["age"]), r["dead_after"]) for r in rows]

    def heartbeat_session(self) -> SQLiteHeartbeat | PrivateHeartbeat:
        # An in-memory database belongs to this one connection: no other worker can see it, or miss us.
        return PrivateHeartbeat() if self.path == ":memory:" else SQLiteHeartbeat(self.path)

    async def get(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._session() as conn:
            rows = list(await conn.execute_fetchall(_Q["get"], (key,)))
        return _job(rows[0]) if rows else None

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        st = None if status is None else JobStatus(status).value
        async with self._session() as conn:
            rows = await conn.execute_fetchall(_Q["list"], (st, action, limit, offset))
        return [_job(r) for r in rows]

    async def page(self, query: JobQuery) -> builtins.list[Job]:
        sql, params = page_sql("sqlite", query)
        async with self._session() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return [_job(r) for r in rows]

    async def run_now(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._session() as conn:
            rows = list(await conn.execute_fetchall(_Q["run_now"], (key, time.time())))
        if rows:
            self._notify()
        return await self.get(job_id)

    async def queue_counts(self) -> dict[str, dict[JobStatus, int]]:
        out: dict[str, dict[JobStatus, int]] = {}
        async with self._session() as conn:
            for queue, status, n in await conn.execute_fetchall(_Q["queue_counts"]):
                out.setdefault(queue, {})[JobStatus(status)] = n
        return out

    async def cancel(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is not None:
            async with self._session() as conn:
                cur = await conn.execute(_Q["cancel"], (key, time.time()))
            if cur.rowcount:
                self._cancel_wake.set()
        return await self.get(job_id)

    async def retry(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._session() as conn:
            rows = list(await conn.execute_fetchall(_Q["retry"], (key, time.time())))
        if not rows:
            return await self.get(job_id)
        self._notify()
        return _job(rows[0])  # the row as this retry left it: a worker may claim it the next instant

    async def purge(self, older_than: float) -> int:
        async with self._session() as conn:
            cur = await conn.execute(_Q["purge"], (older_than,))
            return cur.rowcount

    async def depth(self) -> dict[JobStatus, int]:
        out = dict.fromkeys(ACTIVE, 0)
        async with self._session() as conn:
            for status, n in await conn.execute_fetchall(_Q["depth"]):
                out[JobStatus(status)] = n
        return out

    async def counts(self) -> dict[JobStatus, int]:
        out = all_statuses_zero()
        async with self._session() as conn:
            for status, n in await conn.execute_fetchall(_Q["counts"]):
                out[JobStatus(status)] = n
        return out


class SQLiteHeartbeat:
    """A heartbeat thread's own connection to the store's file (plain ``sqlite3``: the thread may block)."""

    def __init__(self, path: str) -> None:
        # A beat waits at most BEAT_TIMEOUT for the write lock, then the next interval tries again.
        self._conn = sqlite3.connect(path, timeout=BEAT_TIMEOUT, isolation_level=None)
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def beat(self, worker_id: str, dead_after: float) -> None:
        self._conn.execute(_Q["worker_beat"], (worker_id, time.time(), dead_after))

    def retire(self, worker_id: str) -> None:
        self._conn.execute(_Q["worker_retire"], (worker_id,))

    def close(self) -> None:
        self._conn.close()


class PrivateHeartbeat:
    """The heartbeat of a store no other process can open (``sqlite:///:memory:``): nothing to write."""

    def beat(self, worker_id: str, dead_after: float) -> None:
        return None

    def retire(self, worker_id: str) -> None:
        return None

    def close(self) -> None:
        return None


async def _insert(conn: aiosqlite.Connection, jobs: Sequence[NewJob]) -> list[str]:
    """Insert one chunk; ids in input order (rowids grow in the order of the ordered SELECT)."""
    rows = [
        [
            j.action,
            j.payload,
            j.queue,
            j.priority,
            j.max_attempts,
            j.run_at,
            j.idempotency_key,
            j.correlation_id,
            j.headers,
        ]
        for j in jobs
    ]
    inserted = await conn.execute_fetchall(_Q["enqueue"], (time.time(), json.dumps(rows)))
    by_key = {key: str(jid) for jid, key in inserted if key is not None}
    plain = iter(sorted(jid for jid, key in inserted if key is None))
    missing = [j.idempotency_key for j in jobs if j.idempotency_key and j.idempotency_key not in by_key]
    if missing:
        found = await conn.execute_fetchall(_Q["ids_by_key"], (json.dumps(missing),))
        by_key.update((key, str(jid)) for key, jid in found)
    return [by_key[j.idempotency_key] if j.idempotency_key else str(next(plain)) for j in jobs]


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=str(row["id"]),
        action=row["action"],
        payload=decode_json(row["payload"]),
        queue=row["queue"],
        priority=row["priority"],
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=from_epoch(row["run_at"]),
        created_at=utc_from_epoch(row["created_at"]),
        started_at=from_epoch(row["started_at"]),
        finished_at=from_epoch(row["finished_at"]),
        result=decode_json(row["result"]),
        error=decode_json(row["error"]),
        idempotency_key=row["idempotency_key"],
        correlation_id=row["correlation_id"],
        worker_id=row["worker_id"],
        lease_expires_at=from_epoch(row["lease_expires_at"]),
        headers=decode_headers(row["headers"]),
    )


def _split(script: str) -> list[str]:
    """Statements of a migration script (our migrations keep ';' out of strings and comments)."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
