"""An in-memory :class:`~plugwork.queue.store.JobStore`: honest semantics, no persistence.

Used by tests and dev mode. Everything happens on the event loop, so each method is atomic; the
contract test suite holds it to the same behaviour as the SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import asyncio
import builtins
import heapq
import itertools
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .browse import JobQuery, matches
from .jobs import (
    ACTIVE,
    FINISHED,
    MAX_HANDBACKS,
    RUNNING,
    ClaimedJob,
    Finish,
    Job,
    JobStatus,
    NewJob,
    decode_headers,
    decode_json,
    from_epoch,
    lease_expired_error,
    utc_from_epoch,
)
from .store import WorkerBeat, all_statuses_zero, wait_event


@dataclass(slots=True)
class _Row:
    id: str
    action: str
    payload: str
    queue: str
    priority: int
    status: JobStatus
    attempts: int
    max_attempts: int
    run_at: float
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: str | None = None
    error: str | None = None
    idempotency_key: str | None = None
    correlation_id: str | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    headers: str | None = None
    handbacks: int = 0

    def to_job(self) -> Job:
        return Job(
            id=self.id,
            action=self.action,
            payload=decode_json(self.payload),
            queue=self.queue,
            priority=self.priority,
            status=self.status,
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            run_at=from_epoch(self.run_at),
            created_at=utc_from_epoch(self.created_at),
            started_at=from_epoch(self.started_at),
            finished_at=from_epoch(self.finished_at),
            result=decode_json(self.result),
            error=decode_json(self.error),
            idempotency_key=self.idempotency_key,
            correlation_id=self.correlation_id,
            worker_id=self.worker_id,
            lease_expires_at=from_epoch(self.lease_expires_at),
            headers=decode_headers(self.headers),
        )


class MemoryTransaction:
    """An open transaction of a :class:`MemoryJobStore` (see :meth:`MemoryJobStore.transaction`)."""

    def __init__(self, store: MemoryJobStore) -> None:
        self.store = store
        self.pending: list[tuple[str, NewJob]] = []
        self.closed = False

    def add(self, jobs: Sequence[NewJob]) -> list[str]:
        if self.closed:
            raise RuntimeError("the transaction is over: enqueue inside its `async with` block")
        ids: list[str] = []
        keys = {new.idempotency_key: job_id for job_id, new in self.pending if new.idempotency_key}
        for new in jobs:
            key = new.idempotency_key
            known = self.store._keys.get(key) or keys.get(key) if key is not None else None
            if known is not None:
                ids.append(known)
                continue
            job_id = str(next(self.store._ids))
            self.pending.append((job_id, new))
            if key is not None:
                keys[key] = job_id
            ids.append(job_id)
        return ids


class MemoryJobStore:
    """Jobs in a dict. One instance is shared by everything in the process that uses it."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._rows: dict[str, _Row] = {}
        self._waiting: set[str] = set()
        self._keys: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._cancel_wake = asyncio.Event()
        # worker id -> (heartbeat_at, renewed_at, dead_after); heartbeat threads write it, hence the lock
        self._workers: dict[str, tuple[float, float, float]] = {}
        self._workers_lock = threading.Lock()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def migrate(self) -> list[int]:
        return []

    def _notify(self) -> None:
        self._wake.set()

    async def wait_for_jobs(self, timeout: float) -> None:
        await wait_event(self._wake, timeout)

    async def wait_for_cancellations(self, timeout: float) -> None:
        await wait_event(self._cancel_wake, timeout)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        """A transaction to enqueue in (``connection=tx``): its jobs appear when the block exits cleanly
        and are discarded when it raises — the contract a PostgreSQL transaction gives, for tests."""
        tx = MemoryTransaction(self)
        try:
            yield tx
        except BaseException:
            tx.pending.clear()
            raise
        finally:
            tx.closed = True
        now = time.time()
        for job_id, new in tx.pending:
            key = new.idempotency_key
            if key is None or key not in self._keys:  # the first commit of a key wins
                self._insert(job_id, new, now)
        if tx.pending:
            self._notify()

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: Any = None) -> list[str]:
        if connection is not None:
            if not isinstance(connection, MemoryTransaction) or connection.store is not self:
                raise TypeError(
                    "the memory store joins only its own transactions: "
                    "async with store.transaction() as tx: ... enqueue(..., connection=tx)"
                )
            return connection.add(jobs)
        now = time.time()
        ids: list[str] = []
        for new in jobs:
            key = new.idempotency_key
            if key is not None and key in self._keys:
                ids.append(self._keys[key])
                continue
            job_id = str(next(self._ids))
            self._insert(job_id, new, now)
            ids.append(job_id)
        if jobs:
            self._notify()
        return ids

    def _insert(self, job_id: str, new: NewJob, now: float) -> None:
        key = new.idempotency_key
        self._rows[job_id] = _Row(
            id=job_id,
            action=new.action,
            payload=new.payload,
            queue=new.queue,
            priority=new.priority,
            status=JobStatus.READY,
            attempts=0,
            max_attempts=new.max_attempts,
            run_at=now if new.run_at is None else new.run_at,
            created_at=now,
            idempotency_key=key,
            correlation_id=new.correlation_id,
            headers=new.headers,
        )
        self._waiting.add(job_id)
        if key is not None:
            self._keys[key] = job_id

    async def claim(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[ClaimedJob]:
        now = time.time()
        qset = None if queues is None else set(queues)
        due = [
            row
            for jid in self._waiting
            if (row := self._rows[jid]).run_at <= now and (qset is None or row.queue in qset)
        ]
        out: list[ClaimedJob] = []
        for row in heapq.nsmallest(limit, due, key=lambda r: (-r.priority, r.run_at, int(r.id))):
            self._waiting.discard(row.id)
            row.status = JobStatus.ASSIGNED
            row.attempts += 1
            row.worker_id = worker_id
            row.started_at = now
            row.lease_expires_at = now + lease_seconds
            out.append(
                ClaimedJob(
                    row.id,
                    row.action,
                    row.payload,
                    row.attempts,
                    row.max_attempts,
                    max(row.run_at, row.created_at),
                    row.correlation_id,
                    row.headers,
                )
            )
        return out

    def _owned(self, worker_id: str, job_id: str) -> _Row | None:
        row = self._rows.get(job_id)
        if row is None or row.worker_id != worker_id or row.status not in RUNNING:
            return None
        return row

    async def start(self, worker_id: str, ids: Sequence[str]) -> None:
        for job_id in ids:
            row = self._owned(worker_id, job_id)
            if row is not None:
                row.status = JobStatus.PROCESSING

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        now = time.time()
        changed = 0
        for res in results:
            row = self._owned(worker_id, res.id)
            if row is None:
                continue
            changed += 1
            row.status = res.status
            row.result = res.result
            row.error = res.error
            row.worker_id = None
            row.lease_expires_at = None
            if res.status is JobStatus.FAILED:
                row.run_at = now if res.run_at is None else res.run_at
                self._waiting.add(row.id)
            else:
                row.finished_at = now
        if any(r.status is JobStatus.FAILED for r in results):
            self._notify()
        return changed

    async def renew(self, worker_id: str, ids: Sequence[str], lease_seconds: float) -> set[str]:
        now = time.time()
        until = now + lease_seconds
        owned: set[str] = set()
        for job_id in ids:
            row = self._owned(worker_id, job_id)
            if row is not None:
                row.lease_expires_at = until
                owned.add(row.id)
        with self._workers_lock:
            worker = self._workers.get(worker_id)
            if worker is not None:
                self._workers[worker_id] = (worker[0], now, worker[2])
        return owned

    async def release(self, worker_id: str, ids: Sequence[str]) -> int:
        changed = 0
        for job_id in ids:
            row = self._owned(worker_id, job_id)
            if row is None:
                continue
            changed += 1
            self._make_ready(row)
            row.attempts = max(0, row.attempts - 1)
        if changed:
            self._notify()
        return changed

    def _make_ready(self, row: _Row) -> None:
        row.status = JobStatus.READY
        row.worker_id = None
        row.lease_expires_at = None
        self._waiting.add(row.id)

    def _lost(self, row: _Row, now: float, silent_workers: bool, expired_leases: bool) -> bool:
        lease = row.lease_expires_at if row.lease_expires_at is not None else now
        worker = self._workers.get(row.worker_id or "")
        if worker is None:
            return expired_leases and lease < now
        heartbeat_at, renewed_at, dead_after = worker
        if silent_workers and heartbeat_at + dead_after < now:
            return True
        return expired_leases and lease < now and lease < renewed_at

    async def reclaim_expired(self, *, silent_workers: bool = True, expired_leases: bool = True) -> int:
        now = time.time()
        changed = 0
        with self._workers_lock:
            for row in self._rows.values():
                if row.status not in RUNNING or not self._lost(row, now, silent_workers, expired_leases):
                    continue
                changed += 1
                if row.status is JobStatus.ASSIGNED and row.handbacks < MAX_HANDBACKS:
                    row.handbacks += 1  # it never started: hand it back, attempt refunded
                    row.attempts = max(0, row.attempts - 1)
                    self._make_ready(row)
                elif row.attempts >= row.max_attempts:
                    row.status = JobStatus.DEAD
                    row.error = lease_expired_error(row.attempts)
                    row.finished_at = now
                    row.worker_id = None
                    row.lease_expires_at = None
                else:
                    self._make_ready(row)
            for worker_id, (heartbeat_at, _, dead_after) in list(self._workers.items()):
                if silent_workers and heartbeat_at + dead_after < now:
                    del self._workers[worker_id]
        if changed:
            self._notify()
        return changed

    async def workers(self) -> list[WorkerBeat]:
        now = time.time()
        with self._workers_lock:
            rows = sorted(self._workers.items())
        return [WorkerBeat(wid, max(0.0, now - beat), dead_after) for wid, (beat, _, dead_after) in rows]

    def heartbeat_session(self) -> MemoryHeartbeat:
        return MemoryHeartbeat(self)

    def _beat(self, worker_id: str, dead_after: float) -> None:
        now = time.time()
        with self._workers_lock:
            renewed_at = self._workers.get(worker_id, (now, now, dead_after))[1]
            self._workers[worker_id] = (now, renewed_at, dead_after)

    def _retire(self, worker_id: str) -> None:
        with self._workers_lock:
            self._workers.pop(worker_id, None)

    async def get(self, job_id: str) -> Job | None:
        row = self._rows.get(job_id)
        return None if row is None else row.to_job()

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        rows = [
            r
            for r in self._rows.values()
            if (status is None or r.status == status) and (action is None or r.action == action)
        ]
        rows.sort(key=lambda r: int(r.id), reverse=True)
        return [r.to_job() for r in rows[offset : offset + limit]]

    async def page(self, query: JobQuery) -> builtins.list[Job]:
        out: builtins.list[Job] = []
        for row in sorted(self._rows.values(), key=lambda r: int(r.id), reverse=True):
            job = row.to_job()
            if matches(job, query):
                out.append(job)
                if len(out) >= query.limit:
                    break
        return out

    async def run_now(self, job_id: str) -> Job | None:
        row = self._rows.get(job_id)
        if row is None:
            return None
        if row.status in (JobStatus.READY, JobStatus.FAILED):
            row.run_at = min(row.run_at, time.time())
            self._notify()
        return row.to_job()

    async def queue_counts(self) -> dict[str, dict[JobStatus, int]]:
        out: dict[str, dict[JobStatus, int]] = {}
        for row in self._rows.values():
            per = out.setdefault(row.queue, {})
            per[row.status] = per.get(row.status, 0) + 1
        return out

    async def cancel(self, job_id: str) -> Job | None:
        row = self._rows.get(job_id)
        if row is None:
            return None
        if row.status not in FINISHED:
            if row.status in RUNNING:
                self._cancel_wake.set()
            row.status = JobStatus.CANCELLED
            row.finished_at = time.time()
            row.worker_id = None
            row.lease_expires_at = None
            self._waiting.discard(job_id)
        return row.to_job()

    async def retry(self, job_id: str) -> Job | None:
        row = self._rows.get(job_id)
        if row is None:
            return None
        if row.status in (JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED):
            row.attempts = 0
            row.run_at = time.time()
            row.finished_at = None
            row.error = None
            row.result = None
            self._make_ready(row)
            self._notify()
        return row.to_job()

    async def purge(self, older_than: float) -> int:
        doomed = [
            r
            for r in self._rows.values()
            if r.status in FINISHED and r.finished_at is not None and r.finished_at < older_than
        ]
        for row in doomed:
            del self._rows[row.id]
            if row.idempotency_key is not None:
                self._keys.pop(row.idempotency_key, None)
        return len(doomed)

    async def depth(self) -> dict[JobStatus, int]:
        out = dict.fromkeys(ACTIVE, 0)
        for job_id in self._waiting:
            out[self._rows[job_id].status] += 1
        for row in self._rows.values():
            if row.status in RUNNING:
                out[row.status] += 1
        return out

    async def counts(self) -> dict[JobStatus, int]:
        out = all_statuses_zero()
        for row in self._rows.values():
            out[row.status] += 1
        return out


class MemoryHeartbeat:
    """A heartbeat session on a memory store (the worker shares the process, so it is alive while this is)."""

    def __init__(self, store: MemoryJobStore) -> None:
        self._store = store

    def beat(self, worker_id: str, dead_after: float) -> None:
        self._store._beat(worker_id, dead_after)

    def retire(self, worker_id: str) -> None:
        self._store._retire(worker_id)

    def close(self) -> None:
        return None
