"""The worker against every store: results, retries, dead jobs, cancellation, shutdown, leases, cron."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from queue_helpers import Empty, Name, eventually, make_action, make_dispatcher, running, wait_status

from plugwork.context import Context, current_context
from plugwork.errors import InvalidInput, Unavailable
from plugwork.queue import JobStore, store_from_url
from plugwork.queue.cron import CronScheduler
from plugwork.queue.jobs import JobStatus, NewJob, encode_json
from plugwork.queue.retry import RetryPolicy
from plugwork.queue.worker import Worker

FAST = {
    "poll_interval": 0.02,
    "lease_seconds": 2.0,
    "renew_interval": 0.05,
    "reclaim_interval": 0.05,
    "retry": RetryPolicy(base=0.01, cap=0.05),
    "shutdown_timeout": 5.0,
}


async def greet(data: Name, ctx: Context) -> dict[str, Any]:
    return {"message": f"Hello {data.name}", "job_id": ctx.job_id, "attempt": ctx.attempt}


def job(action: str = "greet", payload: Any = None, **kw: Any) -> NewJob:
    return NewJob(action=action, payload=encode_json(payload if payload is not None else {}), **kw)


async def test_runs_jobs_and_stores_results(store: JobStore) -> None:
    seen: list[tuple[str | None, str, str | None]] = []

    async def handler(data: Name, ctx: Context) -> dict[str, Any]:
        current = current_context.get()
        assert current is ctx
        seen.append((ctx.job_id, ctx.transport, ctx.correlation_id))
        return await greet(data, ctx)

    dispatcher = make_dispatcher(make_action("greet", handler, with_context=True))
    ids = await store.enqueue([job(payload={"name": f"n{i}"}) for i in range(30)])
    async with running(Worker(store, dispatcher, concurrency=4, batch_size=7, **FAST)):
        done = [await wait_status(store, jid, "completed") for jid in ids]
    for i, j in enumerate(done):
        assert j.result == {"message": f"Hello n{i}", "job_id": j.id, "attempt": 1}
        assert j.attempts == 1 and j.finished_at is not None
    assert sorted(s[0] for s in seen if s[0]) == sorted(ids)
    assert all(transport == "queue" and corr == jid for jid, transport, corr in seen)


async def test_retries_with_backoff_then_succeeds(store: JobStore) -> None:
    calls: list[float] = []

    async def flaky(data: Name) -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise Unavailable("downstream is down")
        return "ok"

    dispatcher = make_dispatcher(make_action("flaky", flaky))
    [jid] = await store.enqueue([job("flaky", max_attempts=5)])
    async with running(Worker(store, dispatcher, **FAST)):
        done = await wait_status(store, jid, "completed")
    assert done.attempts == 3 and done.result == "ok" and len(calls) == 3
    assert calls[1] - calls[0] >= 0.004  # the retry waited for its run_at (at least half of 0.01 s)


async def test_retryable_error_ends_dead_when_attempts_run_out(store: JobStore) -> None:
    async def always_down(data: Name) -> str:
        raise Unavailable("still down", details={"service": "x"})

    dispatcher = make_dispatcher(make_action("down", always_down))
    [jid] = await store.enqueue([job("down", max_attempts=3)])
    async with running(Worker(store, dispatcher, **FAST)):
        dead = await wait_status(store, jid, "dead")
    assert dead.attempts == 3
    assert dead.error == {
        "error_code": "UNAVAILABLE",
        "error_message": "still down",
        "details": {"service": "x"},
    }


async def test_non_retryable_errors_and_bad_rows_end_dead_at_once(store: JobStore) -> None:
    async def strict(data: Name) -> str:
        raise InvalidInput("no", details=[{"field": "name"}])

    dispatcher = make_dispatcher(
        make_action("greet", greet, with_context=True), make_action("strict", strict)
    )
    bad_json = NewJob(action="greet", payload="{not json", max_attempts=5)
    ids = await store.enqueue(
        [
            bad_json,
            job("vanished", max_attempts=5),
            job("greet", {"name": 42}, max_attempts=5),
            job("strict", max_attempts=5),
            job("greet", {"name": "after"}),
        ]
    )
    async with running(Worker(store, dispatcher, concurrency=1, **FAST)):
        results = [await wait_status(store, jid, "dead", "completed") for jid in ids]
    codes = [r.error["error_code"] if r.error else None for r in results]
    # Undecodable JSON is refused by the dispatcher as BAD_REQUEST or VALIDATION_ERROR: neither retryable.
    assert codes[0] in ("BAD_REQUEST", "VALIDATION_ERROR") and "JSON" in str(results[0].error)
    assert codes[1:] == ["UNKNOWN_ACTION", "VALIDATION_ERROR", "VALIDATION_ERROR", None]
    assert [r.attempts for r in results] == [1, 1, 1, 1, 1]
    assert "vanished" in results[1].error["error_message"]
    assert results[4].status is JobStatus.COMPLETED


async def test_cancel_ready_job_never_runs(store: JobStore) -> None:
    ran: list[str] = []

    async def record(data: Name) -> None:
        ran.append(data.name)

    [a, b] = await store.enqueue([job("rec", {"name": "a"}), job("rec", {"name": "b"})])
    await store.cancel(a)
    async with running(Worker(store, make_dispatcher(make_action("rec", record)), **FAST)):
        await wait_status(store, b, "completed")
    assert ran == ["b"]
    cancelled = await store.get(a)
    assert cancelled and cancelled.status is JobStatus.CANCELLED


@pytest.mark.parametrize("renew_interval", [0.05, 60.0], ids=["renewal", "wake-up"])
async def test_cancel_running_job_at_next_await(store: JobStore, renew_interval: float) -> None:
    """With a long renew interval, only the store's cancellation wake-up can stop the job in time."""
    started = asyncio.Event()
    interrupted: list[bool] = []

    async def forever(data: Name) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            interrupted.append(True)
            raise

    async def quick(data: Name) -> str:
        return "quick"

    dispatcher = make_dispatcher(make_action("forever", forever), make_action("quick", quick))
    [long] = await store.enqueue([job("forever")])
    options = {**FAST, "renew_interval": renew_interval}
    async with running(Worker(store, dispatcher, concurrency=1, **options)) as worker:
        await asyncio.wait_for(started.wait(), 10)
        await store.cancel(long)
        await eventually(lambda: _true(interrupted))
        [after] = await store.enqueue([job("quick")])  # the same single runner goes on
        done = await wait_status(store, after, "completed")
        assert worker.running_jobs == 0
    assert done.result == "quick"
    final = await store.get(long)
    assert final and final.status is JobStatus.CANCELLED and final.result is None


async def _true(flag: list[bool]) -> bool:
    return bool(flag)


async def test_idempotent_enqueue_runs_once(store: JobStore) -> None:
    runs: list[str] = []

    async def record(data: Name) -> None:
        runs.append(data.name)

    first = await store.enqueue([job("rec", {"name": "x"}, idempotency_key="order-1")])
    second = await store.enqueue([job("rec", {"name": "x"}, idempotency_key="order-1")])
    assert first == second
    async with running(Worker(store, make_dispatcher(make_action("rec", record)), **FAST)):
        await wait_status(store, first[0], "completed")
    assert runs == ["x"]


async def test_graceful_shutdown_finishes_running_and_hands_back_the_rest(store: JobStore) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(data: Name) -> str:
        started.set()
        await release.wait()
        return data.name

    ids = await store.enqueue([job("slow", {"name": str(i)}) for i in range(6)])
    worker = Worker(store, make_dispatcher(make_action("slow", slow)), concurrency=1, batch_size=10, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(worker.stop())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(stopping, 10)
    await asyncio.wait_for(task, 10)
    jobs = [await store.get(i) for i in ids]
    statuses = sorted(j.status.value for j in jobs if j)
    assert statuses == ["completed"] + ["ready"] * 5
    assert all(j.attempts == 0 for j in jobs if j and j.status is JobStatus.READY)


async def test_shutdown_timeout_hands_back_stuck_jobs_without_spending_an_attempt(store: JobStore) -> None:
    started = asyncio.Event()

    async def stuck(data: Name) -> None:
        started.set()
        await asyncio.sleep(3600)

    [jid] = await store.enqueue([job("stuck")])
    fast = {**FAST, "shutdown_timeout": 0.1}
    worker = Worker(store, make_dispatcher(make_action("stuck", stuck)), **fast)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(worker.stop(), 10)
    await asyncio.wait_for(task, 10)
    back = await store.get(jid)
    assert back and back.status is JobStatus.READY and back.attempts == 0 and back.worker_id is None


async def test_expired_leases_of_a_dead_worker_are_reclaimed(store: JobStore) -> None:
    ids = await store.enqueue([job("greet", {"name": str(i)}) for i in range(5)])
    assert len(await store.claim("dead-worker", None, 10, 0.05)) == 5  # claimed, then the worker "died"
    await store.start("dead-worker", ids[:2])  # two had started; three were only prefetched
    async with running(
        Worker(store, make_dispatcher(make_action("greet", greet, with_context=True)), **FAST)
    ):
        done = [await wait_status(store, jid, "completed") for jid in ids]
    assert [(j.attempts, j.result["attempt"]) for j in done] == [(2, 2)] * 2 + [(1, 1)] * 3


async def test_job_that_kills_its_worker_every_time_ends_dead(store: JobStore) -> None:
    [jid] = await store.enqueue([job("greet", max_attempts=2)])
    for _ in range(2):  # two deliveries whose worker vanished
        assert len(await store.claim("doomed", None, 1, 0.01)) == 1
        await store.start("doomed", [jid])
        await asyncio.sleep(0.05)
        await store.reclaim_expired()
    dead = await store.get(jid)
    assert dead and dead.status is JobStatus.DEAD and dead.attempts == 2
    assert "lease expired" in dead.error["error_message"]


async def test_cron_ticks_enqueued_exactly_once_by_many_schedulers(store_url: str) -> None:
    tick = make_action("tick", greet, Empty, with_context=True, cron="* * * * *")
    stores = [store_from_url(store_url) for _ in range(3)] if not store_url.startswith("memory") else []
    if not stores:
        shared = store_from_url(store_url)
        stores = [shared, shared, shared]
    for s in stores:
        await s.open()
    try:
        t0 = 1_700_000_000.0 - (1_700_000_000.0 % 60) + 1  # one second past a minute
        schedulers = [CronScheduler(s, {"tick": tick}, clock=lambda: t0) for s in stores]
        for _ in range(2):  # every scheduler passes twice over the same three minutes
            offered = await asyncio.gather(*(sch.enqueue_due(t0 + 180) for sch in schedulers))
            for sch in schedulers:
                sch.start(t0)
        assert offered == [3, 3, 3]
        jobs = await stores[0].list(action="tick")
        assert len(jobs) == 3
        assert sorted(j.run_at.timestamp() for j in jobs if j.run_at) == [t0 + 59, t0 + 119, t0 + 179]
        assert {j.idempotency_key for j in jobs} == {f"cron:tick:{int(t0 + 59 + 60 * i)}" for i in range(3)}
    finally:
        for s in {id(s): s for s in stores}.values():
            await s.close()


async def test_cron_worker_enqueues_and_runs_ticks(store: JobStore) -> None:
    ran: list[int] = []

    async def every_second(data: Empty, ctx: Context) -> None:
        ran.append(ctx.attempt)

    action = make_action("sec", every_second, Empty, with_context=True, cron="* * * * * *")
    async with running(Worker(store, make_dispatcher(action), **FAST)):
        await eventually(lambda: _true(ran), timeout=10)
    jobs = await store.list(action="sec")
    assert jobs and all(j.idempotency_key and j.idempotency_key.startswith("cron:sec:") for j in jobs)


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_many_jobs_none_lost(store: JobStore, concurrency: int) -> None:
    async def noop(data: Empty) -> None:
        return None

    ids = await store.enqueue([job("noop") for _ in range(1000)])
    async with running(
        Worker(
            store,
            make_dispatcher(make_action("noop", noop, Empty)),
            concurrency=concurrency,
            batch_size=64,
            **FAST,
        )
    ):
        await eventually(lambda: _all_done(store, len(ids)), timeout=30)
    counts = await store.counts()
    assert counts[JobStatus.COMPLETED] == 1000 and sum(counts.values()) == 1000


async def _all_done(store: JobStore, n: int) -> bool:
    return (await store.counts())[JobStatus.COMPLETED] == n


async def test_job_log_lines_carry_the_job_id_as_correlation_id() -> None:
    from plugwork.observability.logging import add_invocation_context
    from plugwork.queue.memory import MemoryJobStore

    logged: list[dict[str, Any]] = []

    async def chatty(data: Name) -> None:
        logged.append(add_invocation_context(None, "info", {"event": "inside the job"}))

    store = MemoryJobStore()
    [jid] = await store.enqueue([job("chatty")])
    async with running(Worker(store, make_dispatcher(make_action("chatty", chatty)), **FAST)):
        await wait_status(store, jid, "completed")
    assert logged and logged[0]["correlation_id"] == jid


async def test_retention_purges_old_finished_jobs(store: JobStore) -> None:
    async def noop(data: Empty) -> None:
        return None

    ids = await store.enqueue([job("noop") for _ in range(3)])
    worker = Worker(
        store,
        make_dispatcher(make_action("noop", noop, Empty)),
        retention=0.01,
        retention_interval=0.05,
        **FAST,
    )
    async with running(worker):
        await eventually(lambda: _all_gone(store, ids), timeout=10)


async def _all_gone(store: JobStore, ids: list[str]) -> bool:
    return all([await store.get(i) is None for i in ids])


async def test_stop_before_run_makes_run_return_at_once(store: JobStore) -> None:
    # An app stopped right after it started may stop its worker before the worker's task ever ran.
    async def noop(data: Empty) -> None:
        return None

    worker = Worker(store, make_dispatcher(make_action("noop", noop)))
    await worker.stop()
    await asyncio.wait_for(worker.run(), timeout=5)  # hung until cancelled before the fix
