"""How much the worker claims: adaptive claims follow the completion rate; SQLite sees other processes."""

from __future__ import annotations

import asyncio
from typing import Any

from queue_helpers import Empty, eventually, make_action, make_dispatcher, running

from plugwork.queue.claims import MAX_CLAIM
from plugwork.queue.jobs import JobStatus, NewJob
from plugwork.queue.memory import MemoryJobStore
from plugwork.queue.sqlite import SQLiteJobStore
from plugwork.queue.worker import Worker


class CountingStore(MemoryJobStore):
    """A memory store that records the limit of every claim."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.limits: list[int] = []

    async def claim(self, worker_id: str, queues: Any, limit: int, lease_seconds: float) -> Any:
        self.limits.append(limit)
        return await super().claim(worker_id, queues, limit, lease_seconds)


async def drained(store: MemoryJobStore) -> bool:
    return (await store.counts())[JobStatus.COMPLETED] == store.total


async def run_jobs(handler: Any, count: int, concurrency: int, **options: Any) -> CountingStore:
    store = CountingStore()
    await store.open()
    store.total = count  # type: ignore[attr-defined]
    await store.enqueue([NewJob(action="work") for _ in range(count)])
    dispatcher = make_dispatcher(make_action("work", handler, Empty))
    async with running(Worker(store, dispatcher, concurrency=concurrency, poll_interval=0.02, **options)):
        await eventually(lambda: drained(store), timeout=30)
    return store


async def test_quick_jobs_are_claimed_many_at_a_time() -> None:
    async def noop(data: Empty) -> None:
        return None

    store = await run_jobs(noop, 5000, concurrency=2)
    # The old default was five jobs per runner; the completion rate of no-op jobs asks for far more.
    assert max(store.limits) > 10
    assert max(store.limits) <= MAX_CLAIM


async def test_slow_jobs_are_claimed_no_more_than_the_runners_take() -> None:
    async def slow(data: Empty) -> None:
        await asyncio.sleep(0.1)

    store = await run_jobs(slow, 12, concurrency=3)
    # Thirty jobs a second keep nothing buffered beyond the runners' share.
    assert max(store.limits) == 3, str(store.limits)


async def test_a_fixed_batch_size_is_kept() -> None:
    async def noop(data: Empty) -> None:
        return None

    store = await run_jobs(noop, 500, concurrency=2, batch_size=7)
    assert max(store.limits) == 7


async def test_sqlite_wakes_for_another_process_commit(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    worker_side, producer_side = SQLiteJobStore(url), SQLiteJobStore(url)  # two connections, no shared event
    await worker_side.open()
    await producer_side.open()
    try:
        assert await worker_side.claim("w", None, 10, 30) == []
        waiter = asyncio.create_task(worker_side.wait_for_jobs(60))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await producer_side.enqueue([NewJob(action="work")])
        await asyncio.wait_for(waiter, 10)  # seen through the WAL file, not after the 60 s poll
        assert len(await worker_side.claim("w", None, 10, 30)) == 1
    finally:
        await worker_side.close()
        await producer_side.close()


def test_the_adaptive_size_follows_the_completion_rate() -> None:
    from plugwork.queue.claims import CLAIM_HORIZON, ClaimSize

    size = ClaimSize(concurrency=10, batch_size=None, prefetch=None, now=0.0)
    assert size.limit(buffered=0, ran=0, now=0.0) == 10  # no rate known yet: one job per runner
    assert size.limit(buffered=6, ran=0, now=0.001) == 0  # more than half of a claim still buffered
    # 20,000 jobs a second: a horizon's worth is 1,000, the ceiling.
    assert size.limit(buffered=0, ran=int(20_000 * CLAIM_HORIZON), now=CLAIM_HORIZON) == MAX_CLAIM
    assert size.refill_at == MAX_CLAIM // 2
    # Then two jobs over a second: back to one job per runner.
    assert size.limit(buffered=0, ran=int(20_000 * CLAIM_HORIZON) + 2, now=CLAIM_HORIZON + 1) == 10


def test_a_fixed_size_claims_up_to_the_prefetch() -> None:
    from plugwork.queue.claims import ClaimSize

    size = ClaimSize(concurrency=4, batch_size=50, prefetch=None, now=0.0)
    assert (size.batch_size, size.prefetch, size.refill_at) == (50, 100, 50)
    assert size.limit(buffered=0, ran=0, now=0.0) == 50
    assert size.limit(buffered=60, ran=0, now=0.0) == 0
    assert size.limit(buffered=50, ran=10**6, now=100.0) == 50  # the rate plays no part
