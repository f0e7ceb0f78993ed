"""The job worker: claims jobs in batches, runs them through the Dispatcher, writes verdicts in batches.

Shape (one process, one event loop)::

    claimer ──claim(≤batch)──> bounded buffer ──> N runner loops ──> verdicts ──> flusher ──finish(batch)
       ^ wait_for_jobs (LISTEN/NOTIFY, else polling)        │
    lease loop: renew every owned job in one statement; jobs no longer owned (cancelled, reclaimed) are
                cancelled at their next await point; reclaimer: jobs of lost workers go back.
    heartbeat thread (not on the event loop): the worker's row in the store, so that a busy loop never
                looks dead and a dead worker is noticed within ``dead_after`` seconds (:mod:`.heartbeat`).

Runner loops do not create a task per job; they yield to the loop every few jobs so the claimer and
flusher pipeline with them. A job is finished only when the flusher's batch commits (at-least-once).
Claims follow how fast jobs finish, not the concurrency limit (:mod:`.claims`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from ..actions import Action
from ..carriers import Carriers
from ..context import Context
from ..dispatch import Dispatcher, ErrorInfo, Invocation, Outcome
from ..errors import ActionError, ErrorCode
from ..observability.logging import get_logger
from .claims import ClaimSize
from .cron import CronScheduler
from .heartbeat import DEFAULT_DEAD_AFTER, DEFAULT_HEARTBEAT_INTERVAL, Heartbeat
from .jobs import ClaimedJob, Finish, JobStatus, decode_headers
from .retry import Backoff, RetryPolicy
from .store import JobStore

if TYPE_CHECKING:
    from .metrics import QueueMetrics

_COMPLETED, _FAILED, _DEAD = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.DEAD
_YIELD_EVERY = 32


FLUSH_GRACE_SECONDS = 10.0  # at shutdown, time allowed to record results after the budget is spent


async def _set_within(event: asyncio.Event, timeout: float) -> bool:
    """Whether ``event`` is set within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


def default_worker_id() -> str:
    """``host:pid:random`` — unique per worker, readable in ``jobs show``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class Worker:
    """Runs jobs from ``store`` through ``dispatcher`` until :meth:`stop` is called.

    ``actions`` (default: the dispatcher's) gives the cron schedules and per-action timeouts.
    ``concurrency`` runner loops run at most that many jobs at once; ``job_timeout`` (seconds, or None)
    applies to actions without their own ``timeout``; ``queues=None`` serves every queue. Leases last
    ``lease_seconds`` and are renewed every ``renew_interval`` (default a third of the lease); a running
    job cancelled through the store stops at once when the store signals it (PostgreSQL NOTIFY, or the
    same process), else at the next renewal. By default (``batch_size=None``) claims adapt to the
    completion rate (see the module docstring); a given ``batch_size`` fixes the claim size, with up to
    ``prefetch`` (default ``2 * batch_size``) jobs claimed ahead. With ``retention`` (seconds), finished
    jobs older than that are purged periodically. A thread writes the worker's heartbeat every
    ``heartbeat_interval`` seconds; a worker silent for ``dead_after`` seconds is taken for lost and its
    jobs are reclaimed by the others' reclaim pass (every ``reclaim_interval``, default a quarter of the
    smaller of ``dead_after`` and the lease).
    """

    def __init__(
        self,
        store: JobStore,
        dispatcher: Dispatcher,
        *,
        actions: Mapping[str, Action] | None = None,
        concurrency: int = 10,
        job_timeout: float | None = 300.0,
        shutdown_timeout: float = 30.0,
        queues: Sequence[str] | None = None,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        batch_size: int | None = None,
        prefetch: int | None = None,
        retry: RetryPolicy | None = None,
        worker_id: str | None = None,
        renew_interval: float | None = None,
        reclaim_interval: float | None = None,
        cron: bool = True,
        metrics: QueueMetrics | None = None,
        max_pending: int = 20_000,
        retention: float | None = None,
        retention_interval: float | None = None,
        carriers: Carriers | None = None,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        dead_after: float = DEFAULT_DEAD_AFTER,
    ) -> None:
        self._claims = ClaimSize(concurrency, batch_size, prefetch, time.monotonic())
        self.store = store
        self.dispatcher = dispatcher
        self.carriers = carriers or Carriers()
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.shutdown_timeout = shutdown_timeout
        self.queues = None if queues is None else list(queues)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.batch_size = self._claims.batch_size
        self.prefetch = self._claims.prefetch
        self._ran = 0  # jobs run so far: the claim size's measure of the completion rate
        self.retry = retry or RetryPolicy()
        self.renew_interval = renew_interval or lease_seconds / 3
        # Often enough that a killed worker's jobs come back soon after its dead_after: a cheap pass.
        self.reclaim_interval = reclaim_interval or min(lease_seconds, dead_after) / 4
        self._heartbeat = Heartbeat(
            store.heartbeat_session, self.worker_id, interval=heartbeat_interval, dead_after=dead_after
        )
        self.metrics = metrics
        self.max_pending = max_pending
        self.retention = retention
        self.retention_interval = retention_interval or (
            3600.0 if retention is None else min(3600.0, max(1.0, retention / 10))
        )
        specs = dispatcher.actions if actions is None else actions
        self._cron = CronScheduler(store, specs) if cron else None
        self._timeouts = {n: s.timeout or job_timeout for n, s in specs.items()}
        self._default_timeout = job_timeout
        self._log = get_logger("plugwork.queue.worker")
        self._observe = metrics is not None
        if metrics is not None:
            metrics.worker = self

        self._buffer: deque[ClaimedJob] = deque()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancelling: dict[asyncio.Task[Any], str] = {}
        self._revoked: set[str] = set()
        self._finishes: list[Finish] = []
        self._flushing: list[Finish] = []
        self._started: list[str] = []
        self._latencies: list[float] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._abandoned: list[str] = []
        self._troubled: set[str] = set()
        self._stop_requested = False
        self._hard_stop = False
        self._claimer_waiting = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._next_lease_pass = 0.0  # loop time of the next reclaim pass that looks at expired leases
        self.last_error: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def reconnecting(self) -> bool:
        """True while some loop (or the heartbeat) cannot reach the store and is retrying."""
        if self._heartbeat.last_error is not None and self.last_error is None:
            self.last_error = f"heartbeat: {self._heartbeat.last_error}"
        return bool(self._troubled) or self._heartbeat.last_error is not None

    @property
    def running_jobs(self) -> int:
        """How many jobs are running right now."""
        return len(self._running)

    async def run(self) -> None:
        """Run until :meth:`stop` completes (or this task is cancelled, which stops gracefully)."""
        if self._tasks:
            raise RuntimeError("this worker is already running")
        if self._stop_requested:  # stopped before it began (an app stopped right after starting)
            return
        loop = asyncio.get_running_loop()
        self._loop_time = loop.time
        self._have_jobs = asyncio.Event()
        self._space = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._flusher_stop = False
        self._runners = [asyncio.create_task(self._runner()) for _ in range(self.concurrency)]
        self._claimer_task = asyncio.create_task(self._claimer())
        self._flusher_task = asyncio.create_task(self._flusher())
        self._aux = [
            asyncio.create_task(self._lease_loop()),
            asyncio.create_task(self._every("reclaim", self.reclaim_interval, self._reclaim)),
        ]
        if self.metrics is not None:
            metrics = self.metrics
            self._aux.append(
                asyncio.create_task(self._every("depth", metrics.depth_interval, metrics.refresh_depth))
            )
        if self._cron is not None and self._cron.active:
            self._cron.start()
            self._aux.append(asyncio.create_task(self._cron_loop(self._cron)))
        if self.retention is not None:
            self._aux.append(
                asyncio.create_task(self._every("retention", self.retention_interval, self._purge))
            )
        self._tasks = [*self._runners, self._claimer_task, self._flusher_task, *self._aux]
        self._heartbeat.start()
        self._log.info("worker started", worker_id=self.worker_id, concurrency=self.concurrency)
        try:
            await self._done.wait()
        finally:
            if not self._done.is_set():
                await asyncio.shield(self.stop())

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish within ``shutdown_timeout``, hand the rest back."""
        if not self._tasks:
            self._stop_requested = True  # run() has not begun: it will return at once
            return
        if self._stop_requested:
            await self._done.wait()
            return
        self._stop_requested = True
        # One budget for the whole stop, as uvicorn gives the app: not one per phase.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout

        def remaining() -> float:
            return max(0.0, deadline - loop.time())

        self._stopping.set()
        self._space.set()
        if self._claimer_waiting:
            self._claimer_task.cancel()
        await asyncio.wait([self._claimer_task], timeout=remaining())
        handed_back = [job.id for job in self._buffer]
        self._buffer.clear()
        self._revoked.clear()
        self._have_jobs.set()
        self._room.set()
        _, late = await asyncio.wait(self._runners, timeout=remaining())
        if late:
            self._hard_stop = True
            for task in late:
                task.cancel()
            await asyncio.wait(late, timeout=5)
        self._flusher_stop = True
        self._flush_needed.set()
        # Results of jobs that finished must still be recorded, or they would run again: a short grace.
        await asyncio.wait([self._flusher_task], timeout=max(remaining(), FLUSH_GRACE_SECONDS))
        handed_back += self._abandoned
        if handed_back:
            await self._release(handed_back)
        await self._heartbeat.stop()  # after the hand-back: nothing of this worker is left to reclaim
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._log.info("worker stopped", worker_id=self.worker_id, handed_back=len(handed_back))
        self._done.set()

    async def _release(self, ids: list[str]) -> None:
        backoff = Backoff()
        for _ in range(3):
            try:
                await self.store.release(self.worker_id, ids)
                return
            except Exception as exc:
                await self._trouble("release", exc, backoff)
        self._log.warning("could not hand jobs back; their leases will expire", jobs=len(ids))

    # ------------------------------------------------------------------ claimer

    async def _claimer(self) -> None:
        backoff = Backoff()
        store, buffer, claims = self.store, self._buffer, self._claims
        while not self._stop_requested:
            limit = claims.limit(len(buffer), self._ran, time.monotonic())
            if not limit:
                self._space.clear()
                await self._space.wait()
                continue
            try:
                jobs = await store.claim(self.worker_id, self.queues, limit, self.lease_seconds)
            except Exception as exc:
                await self._trouble("claim", exc, backoff)
                continue
            self._ok("claim", backoff)
            if jobs:
                buffer.extend(jobs)
                self._have_jobs.set()
            if len(jobs) < limit and not self._stop_requested:
                self._claimer_waiting = True
                try:
                    await store.wait_for_jobs(self.poll_interval)
                except asyncio.CancelledError:
                    if self._stop_requested:
                        return
                    raise
                finally:
                    self._claimer_waiting = False

    # ------------------------------------------------------------------ runners

    async def _runner(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        buffer, revoked, claims = self._buffer, self._revoked, self._claims
        done = 0
        while True:
            if not buffer:
                if self._stop_requested:
                    return
                self._have_jobs.clear()
                await self._have_jobs.wait()
                continue
            if len(self._finishes) >= self.max_pending:
                self._room.clear()
                await self._room.wait()
                continue
            job = buffer.popleft()
            if len(buffer) <= claims.refill_at:
                self._space.set()
            if revoked and job.id in revoked:
                revoked.discard(job.id)
                continue
            await self._run_one(job, task)
            self._ran += 1
            done += 1
            if done >= _YIELD_EVERY:
                done = 0
                await asyncio.sleep(0)

    async def _run_one(self, job: ClaimedJob, task: asyncio.Task[Any]) -> None:
        jid = job.id
        timeout = self._timeouts.get(job.action, self._default_timeout)
        ctx = Context(
            correlation_id=job.correlation_id or jid,
            transport="queue",
            job_id=jid,
            attempt=job.attempts,
            deadline=None if timeout is None else self._loop_time() + timeout,
        )
        if job.headers is not None and not self.carriers.only_correlation:
            try:
                self.carriers.extract(decode_headers(job.headers) or {}, ctx)
            except ActionError as exc:  # a carried header this app refuses: the job cannot run as sent
                self._record(job, Outcome.from_exception(exc))
                return
        self._running[jid] = task
        self._started.append(jid)
        if self._observe:
            self._latencies.append(time.time() - job.ready_at)
        self._flush_needed.set()
        try:
            try:
                outcome = await self.dispatcher.dispatch(Invocation(job.action, job.payload.encode(), ctx))
            finally:
                del self._running[jid]
        except asyncio.CancelledError:
            if not self._hard_stop and self._cancelling.get(task) == jid:
                del self._cancelling[task]
                task.uncancel()
                self._count(job.action, "cancelled")
                self._log.info("job cancelled while running", job_id=jid, correlation_id=ctx.correlation_id)
                return
            if self._hard_stop:
                self._abandoned.append(jid)
            raise
        except Exception as exc:  # a bug of ours (the dispatcher never raises): never stop the worker
            outcome = Outcome.failure(ErrorCode.INTERNAL, f"worker error: {type(exc).__name__}: {exc}")
        if self._cancelling.get(task) == jid:  # the handler swallowed our cancellation
            del self._cancelling[task]
            task.uncancel()
            return
        self._record(job, outcome)

    def _record(self, job: ClaimedJob, outcome: Outcome) -> None:
        err = outcome.error
        if err is None:
            try:
                fin = Finish(job.id, _COMPLETED, to_json(outcome.output).decode())
            except Exception as exc:
                fin = Finish(
                    job.id, _DEAD, error=_error_json(ErrorCode.INTERNAL, f"result is not JSON: {exc}")
                )
        else:
            try:
                error = to_json(err.to_dict()).decode()
            except Exception:
                error = _error_json(err.code, err.message)  # details were not JSON-able
            if err.code.retryable and job.attempts < job.max_attempts:
                delay = self.retry.delay(job.attempts)
                fin = Finish(job.id, _FAILED, error=error, run_at=time.time() + delay)
                self._log.info(
                    "job failed, will retry",
                    job_id=job.id,
                    correlation_id=job.correlation_id or job.id,
                    action=job.action,
                    attempt=job.attempts,
                    error_code=err.code.value,
                    retry_in=round(delay, 3),
                )
            else:
                fin = Finish(job.id, _DEAD, error=error)
                self._log.warning(
                    "job dead",
                    job_id=job.id,
                    correlation_id=job.correlation_id or job.id,
                    action=job.action,
                    attempt=job.attempts,
                    error_code=err.code.value,
                    error=err.message,
                )
        self._finishes.append(fin)
        self._count(job.action, fin.status.value)
        self._flush_needed.set()

    def _count(self, action: str, status: str) -> None:
        key = (action, status)
        self._counts[key] = self._counts.get(key, 0) + 1

    # ------------------------------------------------------------------ flusher

    async def _flusher(self) -> None:
        backoff = Backoff()
        store, wid = self.store, self.worker_id
        while True:
            if not self._finishes and not self._started:
                if self._flusher_stop:
                    return
                self._flush_needed.clear()
                await self._flush_needed.wait()
                continue
            finishes = self._flushing = self._finishes[:5000]
            del self._finishes[:5000]
            started = [jid for jid in self._started if jid in self._running]
            self._started.clear()
            try:
                if started:
                    await store.start(wid, started)
                if finishes:
                    await store.finish(wid, finishes)
            except Exception as exc:
                self._flushing = []
                self._finishes[:0] = finishes
                if self._flusher_stop and backoff.failures >= 5:
                    self._log.warning("giving up flushing on shutdown", jobs=len(self._finishes))
                    return
                await self._trouble("finish", exc, backoff)
                continue
            self._flushing = []
            self._ok("finish", backoff)
            if len(self._finishes) < self.max_pending:
                self._room.set()
            self._publish_metrics()

    def _publish_metrics(self) -> None:
        if self.metrics is None:
            self._latencies.clear()
            self._counts.clear()
            return
        latencies, self._latencies = self._latencies, []
        counts, self._counts = self._counts, {}
        self.metrics.record_batch(counts, latencies, len(self._running))

    # ------------------------------------------------------------------ leases

    async def _renew(self) -> None:
        running = dict(self._running)
        buffered = [job.id for job in self._buffer]
        unflushed = [f.id for f in self._finishes] + [f.id for f in self._flushing]
        owned = await self.store.renew(self.worker_id, [*running, *buffered, *unflushed], self.lease_seconds)
        for jid in [*running, *buffered]:
            if jid in owned:
                continue
            task = self._running.get(jid)
            if task is not None:
                if task not in self._cancelling:
                    self._cancelling[task] = jid
                    task.cancel()
            else:
                self._revoked.add(jid)
        if self._revoked:
            self._revoked &= {job.id for job in self._buffer}

    async def _purge(self) -> None:
        assert self.retention is not None
        count = await self.store.purge(time.time() - self.retention)
        if count:
            self._log.info("purged finished jobs", jobs=count, older_than_seconds=self.retention)

    async def _reclaim(self) -> None:
        # Only a worker whose own heartbeat is steady may call others dead: after a database restart nobody
        # could write, and every live worker would look silent. Expired leases (lost claims) are rarer and
        # cost a scan of the running jobs: looked for every half lease, as before heartbeats.
        now = self._loop_time()
        expired_leases = now >= self._next_lease_pass
        if expired_leases:
            self._next_lease_pass = now + self.lease_seconds / 2
        count = await self.store.reclaim_expired(
            silent_workers=self._heartbeat.steady, expired_leases=expired_leases
        )
        if count:
            self._log.warning("reclaimed jobs of lost workers", jobs=count)

    # ------------------------------------------------------------------ supervision

    async def _loop(
        self, name: str, wait: Callable[[], Awaitable[bool]], step: Callable[[], Awaitable[object]]
    ) -> None:
        """Run ``step`` after each ``wait()`` until it returns True; store trouble is retried with backoff."""
        backoff = Backoff()
        while not await wait():
            try:
                await step()
            except Exception as exc:
                await self._trouble(name, exc, backoff)
            else:
                self._ok(name, backoff)

    def _every(
        self, name: str, interval: float, step: Callable[[], Awaitable[object]]
    ) -> Coroutine[Any, Any, None]:
        return self._loop(name, lambda: _set_within(self._done, interval), step)

    def _lease_loop(self) -> Coroutine[Any, Any, None]:
        # Renew every renew_interval, and at once when the store reports a cancellation; ends when cancelled.
        async def wait() -> bool:
            await self.store.wait_for_cancellations(self.renew_interval)
            return False

        return self._loop("leases", wait, self._renew)

    def _cron_loop(self, cron: CronScheduler) -> Coroutine[Any, Any, None]:
        return self._loop(
            "cron", lambda: _set_within(self._stopping, cron.seconds_to_next_tick() + 0.001), cron.enqueue_due
        )

    async def _trouble(self, where: str, exc: BaseException, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        self._troubled.add(where)
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"
        if backoff.failures == 1 or backoff.failures % 20 == 0:
            self._log.warning(
                "store trouble, retrying", loop=where, error=self.last_error, failures=backoff.failures
            )
        await asyncio.sleep(delay)

    def _ok(self, where: str, backoff: Backoff) -> None:
        if backoff.failures:
            backoff.reset()
            self._troubled.discard(where)
            self._log.info("store reachable again", loop=where)


def _error_json(code: ErrorCode, message: str) -> str:
    return to_json(ErrorInfo(code, message).to_dict()).decode()
