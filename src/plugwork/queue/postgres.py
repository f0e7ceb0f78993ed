"""The PostgreSQL :class:`~plugwork.queue.store.JobStore` (asyncpg): the production store.

Batch claims with ``FOR UPDATE SKIP LOCKED``, batched verdicts in one ``UPDATE ... FROM unnest(...)``,
bulk inserts from arrays, and wake-ups through ``LISTEN/NOTIFY`` (a statement trigger notifies on every
insert) with polling as the fallback while the listening connection is down. Connection errors surface
as :class:`~plugwork.queue.store.StoreUnavailable`, which the worker answers by retrying with backoff.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..extras import require
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
    parse_job_id,
)
from .sql import migrations, queries
from .store import StoreUnavailable, WorkerBeat, all_statuses_zero, wait_event

if TYPE_CHECKING:
    import asyncpg
else:
    asyncpg = require("asyncpg", extra="postgres")

_Q = queries("postgres")
_COMPLETED = JobStatus.COMPLETED
CHANNEL = "plugwork_jobs"
CANCEL_CHANNEL = "plugwork_cancel"
ENQUEUE_CHUNK = 20_000
ACQUIRE_TIMEOUT = 30.0  # seconds to wait for a free pooled connection
CLOSE_TIMEOUT = 10.0  # seconds for in-flight queries to finish at close
"""Jobs per INSERT statement; bigger enqueues run as several statements in one transaction."""
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,
    # "cannot switch to state 12; another operation is in progress": what asyncpg raises instead of
    # ConnectionDoesNotExistError when a statement meets a connection whose termination it is processing.
    asyncpg.InternalClientError,
)
_LISTENER_ERRORS: tuple[type[BaseException], ...] = (*_CONNECTION_ERRORS, asyncpg.PostgresError)


class PostgresJobStore:
    """Jobs in a PostgreSQL table (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        min_connections: int = 1,
        max_connections: int = 8,
        command_timeout: float = 60.0,
    ) -> None:
        self.url = url if not url.startswith("postgres:") else "postgresql:" + url[len("postgres:") :]
        self._auto_migrate = auto_migrate
        self._min_connections = min_connections
        self._max_connections = max_connections
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._cancel_wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._listener_retry_at = 0.0
        self._listener_backoff = 0.1

    # ------------------------------------------------------------------ connections

    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=self._min_connections,
                    max_size=self._max_connections,
                    command_timeout=self._command_timeout,
                    timeout=10.0,
                    reset=_session_unchanged,
                )
            except _CONNECTION_ERRORS as exc:
                raise StoreUnavailable(f"PostgreSQL unreachable: {exc}") from exc
        if self._auto_migrate:
            await self.migrate()

    async def close(self) -> None:
        if self._listener_task is not None and not self._listener_task.done():
            self._listener_task.cancel()
            await asyncio.gather(self._listener_task, return_exceptions=True)
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close(timeout=5)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=CLOSE_TIMEOUT)
            except TimeoutError:  # a connection stuck in a query: do not hang the shutdown on it
                pool.terminate()

    @asynccontextmanager
    async def _conn(self, connection: Any = None) -> AsyncIterator[Any]:
        if connection is not None:
            yield connection
            return
        if self._pool is None:
            await self.open()
        pool = self._pool
        assert pool is not None
        try:
            conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT)
        except TimeoutError:
            raise StoreUnavailable(f"no PostgreSQL connection free within {ACQUIRE_TIMEOUT:g}s") from None
        except _CONNECTION_ERRORS as exc:
            raise StoreUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        try:
            yield conn
        except _CONNECTION_ERRORS as exc:
            raise StoreUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        finally:
            await pool.release(conn)

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    async def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, under an advisory lock; return their versions."""
        applied: list[int] = []
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('plugwork_migrations'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS plugwork_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in await conn.fetch("SELECT version FROM plugwork_migrations")}
            for mig in migrations("postgres"):
                if mig.version not in done:
                    await conn.execute(mig.sql)
                    await conn.execute(
                        "INSERT INTO plugwork_migrations (version, name) VALUES ($1, $2)",
                        mig.version,
                        mig.name,
                    )
                    applied.append(mig.version)
        return applied

    # ------------------------------------------------------------------ wake-ups

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    def _on_cancel(self, *_: Any) -> None:
        self._cancel_wake.set()

    def _on_listener_lost(self, *_: Any) -> None:
        self._listener = None

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        now = time.monotonic()
        if now < self._listener_retry_at:
            return
        conn = None
        try:
            conn = await asyncpg.connect(self.url, timeout=5)
            await conn.add_listener(CHANNEL, self._on_notify)
            await conn.add_listener(CANCEL_CHANNEL, self._on_cancel)
            conn.add_termination_listener(self._on_listener_lost)
        except _LISTENER_ERRORS:
            if conn is not None:
                conn.terminate()
            self._listener_retry_at = now + self._listener_backoff
            self._listener_backoff = min(self._listener_backoff * 2, 10.0)
            return
        self._listener = conn
        self._listener_backoff = 0.1
        self._wake.set()  # jobs may have arrived, or been cancelled, while nobody listened
        self._cancel_wake.set()

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (otherwise waits fall back to polling)."""
        return self._listener is not None and not self._listener.is_closed()

    def _listen(self) -> None:
        if not self.listening and (self._listener_task is None or self._listener_task.done()):
            # Connect in the background: a slow connect must not hold up polling.
            self._listener_task = asyncio.create_task(self._ensure_listener())

    async def wait_for_jobs(self, timeout: float) -> None:
        self._listen()
        await wait_event(self._wake, timeout)

    async def wait_for_cancellations(self, timeout: float) -> None:
        self._listen()
        await wait_event(self._cancel_wake, timeout)

    # ------------------------------------------------------------------ the worker's hot path

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: Any = None) -> list[str]:
        if not jobs:
            return []
        async with self._conn(connection) as conn:
            if len(jobs) <= ENQUEUE_CHUNK:
                return await _insert(conn, jobs)
            ids: list[str] = []
            async with conn.transaction():  # a savepoint inside the caller's transaction
                for start in range(0, len(jobs), ENQUEUE_CHUNK):
                    ids += await _insert(conn, jobs[start : start + ENQUEUE_CHUNK])
            return ids

    async def claim(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[ClaimedJob]:
        qs = None if queues is None else list(queues)
        async with self._conn() as conn:
            rows = await conn.fetch(_Q["claim"], qs, limit, worker_id, float(lease_seconds))
        return [ClaimedJob(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def start(self, worker_id: str, ids: Sequence[str]) -> None:
        if ids:
            async with self._conn() as conn:
                await conn.execute(_Q["start"], worker_id, [int(i) for i in ids])

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        if not results:
            return 0
        ids = [int(r.id) for r in results]
        res = [r.result for r in results]
        if all(r.status is _COMPLETED for r in results):
            async with self._conn() as conn:
                return _rowcount(await conn.execute(_Q["finish_completed"], worker_id, ids, res))
        statuses = [r.status.value for r in results]
        errs = [r.error for r in results]
        run_at = [r.run_at for r in results]
        async with self._conn() as conn:
            tag = await conn.execute(_Q["finish"], worker_id, ids, statuses, res, errs, run_at)
        return _rowcount(tag)

    async def renew(self, worker_id: str, ids: Sequence[str], lease_seconds: float) -> set[str]:
        # The worker knew all its jobs when it called; the statement may run much later (a pool wait, a
        # prepare, a handler blocking the loop meanwhile) and miss jobs it learnt of since. So renewed_at
        # is the renewal's database time less all the time the call took: never after the call began.
        called = time.monotonic()
        async with self._conn() as conn:  # with no ids too: the renewal is recorded on the worker's row
            row = await conn.fetchrow(_Q["renew"], worker_id, float(lease_seconds), [int(i) for i in ids])
            known_at = row["at"] - timedelta(seconds=time.monotonic() - called)
            await conn.execute(_Q["worker_renewed"], worker_id, known_at)
        return {str(i) for i in row["ids"]}

    async def release(self, worker_id: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self._conn() as conn, conn.transaction():
            tag = await conn.execute(_Q["release"], worker_id, [int(i) for i in ids])
            await conn.execute(_Q["notify"])
        return _rowcount(tag)

    async def reclaim_expired(self, *, silent_workers: bool = True, expired_leases: bool = True) -> int:
        if not (silent_workers or expired_leases):
            return 0
        async with self._conn() as conn, conn.transaction():
            query = _Q["reclaim_lost"]
            changed = _rowcount(await conn.execute(query, MAX_HANDBACKS, silent_workers, expired_leases))
            if silent_workers:
                await conn.execute(_Q["forget_lost_workers"])
            if changed:
                await conn.execute(_Q["notify"])
        return changed

    async def workers(self) -> list[WorkerBeat]:
        async with self._conn() as conn:
            rows = await conn.fetch(_Q["workers"])
        return [WorkerBeat(r["id"], max(0.0, r["age"]), r["dead_after"]) for r in rows]

    def heartbeat_session(self) -> PostgresHeartbeat:
        return PostgresHeartbeat(self.url, BEAT_TIMEOUT)

    # ------------------------------------------------------------------ management

    async def get(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._conn() as conn:
            row = await conn.fetchrow(_Q["get"], key)
        return None if row is None else _job(row)

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        st = None if status is None else JobStatus(status).value
        async with self._conn() as conn:
            rows = await conn.fetch(_Q["list"], st, action, limit, offset)
        return [_job(r) for r in rows]

    async def page(self, query: JobQuery) -> builtins.list[Job]:
        sql, params = page_sql("postgres", query)
        async with self._conn() as conn:
            if not query.text:
                rows = await conn.fetch(sql, *params)
            else:
                # A text filter is planned for its own pattern: after five runs of a prepared statement
                # PostgreSQL may switch to a generic plan which, not knowing the pattern, walks the primary
                # key newest first to the very end for a rare text: up to twice the time of the table scan
                # that a plan made for the pattern chooses (bench/dashboard.py).
                async with conn.transaction():
                    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                    rows = await conn.fetch(sql, *params)
        return [_job(r) for r in rows]

    async def run_now(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._conn() as conn, conn.transaction():
            if _rowcount(await conn.execute(_Q["run_now"], key)):
                await conn.execute(_Q["notify"])
        return await self.get(job_id)

    async def queue_counts(self) -> dict[str, dict[JobStatus, int]]:
        out: dict[str, dict[JobStatus, int]] = {}
        async with self._conn() as conn:
            for queue, status, n in await conn.fetch(_Q["queue_counts"]):
                out.setdefault(queue, {})[JobStatus(status)] = n
        return out

    async def cancel(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is not None:
            async with self._conn() as conn, conn.transaction():
                if _rowcount(await conn.execute(_Q["cancel"], key)):
                    await conn.execute(_Q["notify_cancel"], str(key))
        return await self.get(job_id)

    async def retry(self, job_id: str) -> Job | None:
        key = parse_job_id(job_id)
        if key is None:
            return None
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(_Q["retry"], key)
            if row is not None:
                await conn.execute(_Q["notify"])
        # The row as this retry left it: a worker may claim it the moment the transaction commits.
        return _job(row) if row is not None else await self.get(job_id)

    async def purge(self, older_than: float) -> int:
        async with self._conn() as conn:
            return _rowcount(await conn.execute(_Q["purge"], older_than))

    async def depth(self) -> dict[JobStatus, int]:
        out = dict.fromkeys(ACTIVE, 0)
        async with self._conn() as conn:
            for status, n in await conn.fetch(_Q["depth"]):
                out[JobStatus(status)] = n
        return out

    async def counts(self) -> dict[JobStatus, int]:
        out = all_statuses_zero()
        async with self._conn() as conn:
            for status, n in await conn.fetch(_Q["counts"]):
                out[JobStatus(status)] = n
        return out


class PostgresHeartbeat:
    """A heartbeat thread's own connection, driven by an event loop of the thread's own (asyncpg is async)."""

    def __init__(self, url: str, timeout: float) -> None:
        self._loop = asyncio.new_event_loop()
        self._timeout = timeout
        try:
            self._conn = self._loop.run_until_complete(asyncpg.connect(url, timeout=timeout))
        except BaseException:
            self._loop.close()
            raise

    def beat(self, worker_id: str, dead_after: float) -> None:
        self._loop.run_until_complete(
            self._conn.execute(_Q["worker_beat"], worker_id, float(dead_after), timeout=self._timeout)
        )

    def retire(self, worker_id: str) -> None:
        self._loop.run_until_complete(
            self._conn.execute(_Q["worker_retire"], worker_id, timeout=self._timeout)
        )

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._conn.close(timeout=5))
        except Exception:
            self._conn.terminate()
        finally:
            self._loop.close()


async def _session_unchanged(conn: Any) -> None:
    """The pool's reset: nothing to undo. asyncpg's default sends ``RESET ALL; UNLISTEN *; ...`` at every
    release, a round trip that each store call would wait for; this store's statements leave no session
    state (its lock and settings are transaction-scoped, LISTEN has its own connection), and asyncpg
    still rolls back a transaction left open before it calls this."""


async def _insert(conn: Any, jobs: Sequence[NewJob]) -> list[str]:
    """Insert one chunk of jobs; ids in input order. Identity values grow in insertion order, and the
    insert follows the arrays' order, so sorting the new ids restores the input order."""
    if len(jobs) > 1 and _uniform(jobs):
        first = jobs[0]
        rows = await conn.fetch(
            _Q["enqueue_uniform"],
            first.action,
            [j.payload for j in jobs],
            first.queue,
            first.priority,
            first.max_attempts,
            first.run_at,
            first.correlation_id,
            first.headers,
        )
        return [str(i) for i in sorted(row[0] for row in rows)]
    cols: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
    a, p, q, pr, m, r, k, c, h = cols
    for j in jobs:
        a.append(j.action)
        p.append(j.payload)
        q.append(j.queue)
        pr.append(j.priority)
        m.append(j.max_attempts)
        r.append(j.run_at)
        k.append(j.idempotency_key)
        c.append(j.correlation_id)
        h.append(j.headers)
    rows = await conn.fetch(_Q["enqueue"], *cols)
    by_key = {row[1]: row[0] for row in rows if row[1] is not None}
    missing = [key for key in k if key is not None and key not in by_key]
    if missing:
        found = await conn.fetch(_Q["ids_by_key"], missing)
        by_key.update((row[0], row[1]) for row in found)
        gone = [key for key in missing if key not in by_key]
        if gone:  # the earlier job was purged between our insert and this look-up
            raise StoreError(f"idempotency key(s) {gone[:3]} vanished while enqueuing; enqueue again")
    plain = iter(sorted(row[0] for row in rows if row[1] is None))
    return [str(by_key[key] if key is not None else next(plain)) for key in k]


def _uniform(jobs: Sequence[NewJob]) -> bool:
    """Whether every job shares all columns but the payload, and none has an idempotency key."""
    first = jobs[0]
    key = (first.action, first.queue, first.priority, first.max_attempts, first.run_at, first.correlation_id)
    for j in jobs:
        if (
            j.idempotency_key is not None
            or j.headers != first.headers
            or (j.action, j.queue, j.priority, j.max_attempts, j.run_at, j.correlation_id) != key
        ):
            return False
    return True


def _rowcount(tag: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 42``."""
    try:
        return int(tag.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=str(row["id"]),
        action=row["action"],
        payload=decode_json(row["payload"]),
        queue=row["queue"],
        priority=row["priority"],
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=decode_json(row["result"]),
        error=decode_json(row["error"]),
        idempotency_key=row["idempotency_key"],
        correlation_id=row["correlation_id"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        headers=decode_headers(row["headers"]),
    )
