"""The :class:`JobStore` protocol every job store implements, and :func:`store_from_url`.

A store is storage only: the worker decides *what* happens to a job, the store makes each step atomic.
Every method works in batches where the worker's hot path calls it (claim, start, finish, renew), so one
round trip serves hundreds of jobs. Implementations: ``memory://`` (:mod:`.memory`), ``sqlite:///path``
(:mod:`.sqlite`) and ``postgresql://...`` (:mod:`.postgres`), all checked by one contract test suite.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import StoreError
from .browse import JobQuery
from .heartbeat import HeartbeatSession
from .jobs import ClaimedJob, Finish, Job, JobStatus, NewJob

DEFAULT_QUEUE_URL = "sqlite:///.plugwork/jobs.db"


@dataclass(frozen=True)
class WorkerBeat:
    """A worker's row in ``plugwork_workers``: when it last wrote its heartbeat, by the store's clock."""

    id: str  # ``host:pid:random`` (see ``plugwork.queue.worker.default_worker_id``)
    age: float  # seconds since its last heartbeat
    dead_after: float  # silence after which the others take it for lost

    @property
    def alive(self) -> bool:
        """Whether it beat recently enough not to be taken for lost."""
        return self.age <= self.dead_after


class StoreUnavailable(StoreError):
    """The store cannot be reached right now (connection refused or lost); retrying later may work."""


@runtime_checkable
class JobStore(Protocol):
    """Storage for jobs. All times are epoch seconds (UTC) unless a :class:`Job` field says otherwise."""

    url: str

    async def open(self) -> None:
        """Connect and create the schema if needed. Idempotent."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` when the store cannot be reached."""

    async def migrate(self) -> list[int]:
        """Apply the schema migrations the store lacks; return the versions applied."""

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: Any = None) -> list[str]:
        """Insert jobs; return their ids in order. A job whose idempotency key exists gets the first id.

        ``connection`` (PostgreSQL only): an asyncpg connection whose open transaction the insert joins.
        """

    async def claim(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[ClaimedJob]:
        """Atomically take up to ``limit`` runnable jobs (ready, or failed with ``run_at`` reached).

        Orders by priority (highest first), then ``run_at``. Each taken job becomes ``assigned`` to
        ``worker_id``, its ``attempts`` grows by one and its lease ends ``lease_seconds`` from now.
        ``queues=None`` means every queue.
        """

    async def start(self, worker_id: str, ids: Sequence[str]) -> None:
        """Mark jobs of this worker ``processing`` (called in batches; may lag the real start)."""

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        """Record verdicts for jobs this worker still owns; return how many rows changed.

        A job that was cancelled or reclaimed meanwhile is left untouched.
        """

    async def renew(self, worker_id: str, ids: Sequence[str], lease_seconds: float) -> set[str]:
        """Extend the leases of ``ids`` that this worker still owns; return those ids.

        Only the ids the worker knows are renewed: jobs of a claim whose answer was lost (a dropped
        connection) are not, so their leases expire and they come back. The renewal is also recorded on
        the worker's heartbeat row (``ids`` may be empty): a job of this worker whose lease ended before
        its last renewal is one it does not know. It is recorded as of the call, never later, and not
        before the leases moved: a job the worker learns of while the call is under way (its event loop
        blocked by a handler, say) must not look unknown.
        """

    async def release(self, worker_id: str, ids: Sequence[str]) -> int:
        """Hand jobs back to ``ready`` without spending the attempt (graceful shutdown)."""

    async def reclaim_expired(self, *, silent_workers: bool = True, expired_leases: bool = True) -> int:
        """Jobs of lost workers go back to ``ready``; return how many (workers call it every second or so).

        A running job is lost, with ``silent_workers``, when its worker went silent past its ``dead_after``
        (cheap: it starts from the few silent workers' rows). A caller whose own heartbeat is not steady
        passes False: it cannot tell a dead worker from a store that nobody could write to (a database
        restarting). With ``expired_leases`` (a scan of the running jobs, so less often), a job is also lost
        when its worker renewed its leases after the job's lease ended without renewing it (a claim the
        worker never received), or, for a worker with no heartbeat row, when its lease expired.

        A lost job that never started (``assigned``) is handed back with its attempt refunded, at most
        :data:`~plugwork.queue.jobs.MAX_HANDBACKS` times per job; a started one spends its attempt and ends
        ``dead`` with none left. Rows of silent workers are deleted (with ``silent_workers``).
        """

    async def workers(self) -> list[WorkerBeat]:
        """The workers' heartbeat rows (live ones, and silent ones not yet forgotten), by id."""
        ...

    def heartbeat_session(self) -> HeartbeatSession:
        """A new connection for a worker's heartbeat thread (called in that thread; see :mod:`.heartbeat`)."""

    async def get(self, job_id: str) -> Job | None:
        """One job, or None."""

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """Jobs, newest first, optionally filtered."""

    async def page(self, query: JobQuery) -> builtins.list[Job]:
        """One page of jobs, newest first, filtered by ``query`` (keyset-paged: see :mod:`.browse`)."""

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job that is not finished yet; return it (unchanged if already finished), or None."""

    async def retry(self, job_id: str) -> Job | None:
        """Make a failed, dead or cancelled job ready again with fresh attempts; return it, or None."""

    async def run_now(self, job_id: str) -> Job | None:
        """Make a waiting (ready or failed) job runnable now, keeping its attempts; return it, or None."""

    async def purge(self, older_than: float) -> int:
        """Delete finished jobs that finished before ``older_than``; return how many."""

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status present, zero included)."""

    async def queue_counts(self) -> dict[str, dict[JobStatus, int]]:
        """How many jobs each queue holds in each status (only the statuses present)."""

    async def depth(self) -> dict[JobStatus, int]:
        """Counts of the ready, failed, assigned and processing jobs only: a cost bounded by the backlog,
        not by the history of finished jobs (what the queue-depth gauge polls)."""

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return when new jobs may be runnable, or after ``timeout`` seconds at most."""

    async def wait_for_cancellations(self, timeout: float) -> None:
        """Return when a running job may have been cancelled, or after ``timeout`` seconds at most."""


def all_statuses_zero() -> dict[JobStatus, int]:
    """A counts dict with every status at zero."""
    return dict.fromkeys(JobStatus, 0)


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set (or ``timeout`` passes), then clear it.

    The event stays set between waits, so a wake-up that arrives while the worker is busy claiming is not
    lost: the next wait returns at once.
    """
    if not event.is_set():
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
    event.clear()
