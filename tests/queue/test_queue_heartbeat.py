"""Worker heartbeats: a killed worker's jobs come back without waiting for their leases, a busy worker's
jobs never run twice, and prefetched jobs that never started keep their attempt."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel
from queue_helpers import beat, eventually, make_action, make_dispatcher, running, wait_status

from plugwork.queue import JobStore, store_from_url
from plugwork.queue.heartbeat import Heartbeat
from plugwork.queue.jobs import MAX_HANDBACKS, JobStatus, NewJob, encode_json
from plugwork.queue.worker import Worker

HERE = Path(__file__).parent


def new(**kw: object) -> NewJob:
    return NewJob(action="work", payload='{"n": 1}', **kw)  # type: ignore[arg-type]


async def test_a_silent_worker_is_lost_and_its_unstarted_jobs_keep_their_attempt(store: JobStore) -> None:
    started, prefetched, last = await store.enqueue([new(), new(), new(max_attempts=1)])
    await beat(store, "w1", dead_after=0.2)
    assert len(await store.claim("w1", None, 10, 3600)) == 3  # leases far away: only the heartbeat can tell
    await store.start("w1", [started, last])
    assert await store.reclaim_expired() == 0  # alive
    await asyncio.sleep(0.3)
    assert await store.reclaim_expired() == 3
    jobs = {jid: await store.get(jid) for jid in (started, prefetched, last)}
    assert jobs[started].status is JobStatus.READY and jobs[started].attempts == 1  # the delivery counted
    assert jobs[prefetched].status is JobStatus.READY and jobs[prefetched].attempts == 0  # handed back
    assert jobs[last].status is JobStatus.DEAD and "heartbeat" in jobs[last].error["error_message"]
    assert all(j.worker_id is None for j in jobs.values())


async def test_a_live_worker_keeps_its_jobs_past_their_leases(store: JobStore) -> None:
    """Its event loop may be too busy to renew: the heartbeat says it is alive, so nothing is taken."""
    [jid] = await store.enqueue([new()])
    await beat(store, "busy", dead_after=60)
    await store.claim("busy", None, 1, 0.05)
    await store.renew("busy", [jid], 0.05)
    await asyncio.sleep(0.15)
    assert await store.reclaim_expired() == 0
    job = await store.get(jid)
    assert job and job.status is JobStatus.ASSIGNED and job.worker_id == "busy"


async def test_a_claim_the_live_worker_never_received_comes_back(store: JobStore) -> None:
    known, lost = await store.enqueue([new(), new()])
    await beat(store, "w1", dead_after=60)
    await store.claim("w1", None, 2, 0.05)  # the answer "was lost": the worker only knows one job
    await asyncio.sleep(0.15)
    assert await store.renew("w1", [known], 30) == {known}
    assert await store.reclaim_expired() == 1
    j_known, j_lost = await store.get(known), await store.get(lost)
    assert j_known and j_known.status is JobStatus.ASSIGNED
    assert j_lost and j_lost.status is JobStatus.READY and j_lost.attempts == 0


async def test_each_kind_of_loss_is_looked_for_when_asked(store: JobStore) -> None:
    silent_job, lease_job = await store.enqueue([new(), new()])
    await beat(store, "silent", dead_after=0.2)
    await store.claim("silent", None, 1, 3600)
    await store.claim("rowless", None, 1, 0.01)
    await asyncio.sleep(0.3)
    assert await store.reclaim_expired(silent_workers=False, expired_leases=False) == 0
    assert await store.reclaim_expired(silent_workers=True, expired_leases=False) == 1
    assert (j := await store.get(silent_job)) and j.status is JobStatus.READY
    assert (j := await store.get(lease_job)) and j.status is JobStatus.ASSIGNED
    assert await store.reclaim_expired(silent_workers=False, expired_leases=True) == 1
    assert (j := await store.get(lease_job)) and j.status is JobStatus.READY


async def test_handbacks_without_an_attempt_are_bounded(store: JobStore) -> None:
    """A job that kills its worker before its start is recorded must still end dead."""
    [jid] = await store.enqueue([new(max_attempts=1)])
    for _ in range(MAX_HANDBACKS):
        assert len(await store.claim("doomed", None, 1, 0.01)) == 1
        await asyncio.sleep(0.03)
        assert await store.reclaim_expired() == 1
        job = await store.get(jid)
        assert job and job.status is JobStatus.READY and job.attempts == 0
    await store.claim("doomed", None, 1, 0.01)
    await asyncio.sleep(0.03)
    await store.reclaim_expired()
    job = await store.get(jid)
    assert job and job.status is JobStatus.DEAD and job.attempts == 1


async def test_a_worker_heartbeats_while_it_runs_and_retires_when_it_stops(store: JobStore) -> None:
    [jid] = await store.enqueue([new()])
    await store.claim("ghost", None, 1, 3600)  # a lost claim of a worker that is neither here nor known
    worker = Worker(
        store,
        make_dispatcher(make_action("work", _work, _Item)),
        heartbeat_interval=0.05,
        dead_after=0.2,
        reclaim_interval=0.05,
        poll_interval=0.02,
    )
    async with running(worker):
        await eventually(lambda: _beating(worker))
        # the ghost has no heartbeat row and an hour of lease: it is not reclaimed by the heartbeat rule
        job = await store.get(jid)
        assert job and job.status is JobStatus.ASSIGNED
    assert worker._heartbeat.last_error is None


async def test_a_worker_that_cannot_write_its_own_heartbeat_takes_no_one_for_dead(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restart silences every worker at once: none may then reclaim another's jobs."""
    [jid] = await store.enqueue([new()])
    await beat(store, "silent", dead_after=0.2)
    await store.claim("silent", None, 1, 3600)
    await store.start("silent", [jid])
    await asyncio.sleep(0.3)

    def unwritable() -> Any:
        raise OSError("the store is restarting")

    monkeypatch.setattr(store, "heartbeat_session", unwritable)
    passes: list[bool] = []
    real_reclaim = store.reclaim_expired

    async def counted(*, silent_workers: bool = True, expired_leases: bool = True) -> int:
        passes.append(silent_workers)
        return await real_reclaim(silent_workers=silent_workers, expired_leases=expired_leases)

    monkeypatch.setattr(store, "reclaim_expired", counted)
    worker = Worker(store, make_dispatcher(make_action("work", _work, _Item)), reclaim_interval=0.02)
    async with running(worker):
        await eventually(lambda: _at_least_passes(passes, 5))
    assert not any(passes)
    job = await store.get(jid)
    assert job and job.status is JobStatus.PROCESSING and job.worker_id == "silent"
    assert await store.reclaim_expired(silent_workers=False) == 0
    assert await store.reclaim_expired() == 1  # a steady reclaimer would take it


async def _at_least_passes(passes: list[bool], n: int) -> bool:
    return len(passes) >= n


def test_heartbeat_is_steady_only_after_a_run_of_timely_beats() -> None:
    outcomes: list[bool] = []

    class Session:
        def beat(self, worker_id: str, dead_after: float) -> None:
            if outcomes and not outcomes[-1]:
                raise OSError("down")

        def retire(self, worker_id: str) -> None:
            pass

        def close(self) -> None:
            pass

    # dead_after/2 = 0.5 s of slack between beats: a loaded machine must not break the run by itself
    heartbeat = Heartbeat(Session, "w", interval=0.05, dead_after=1.0)
    assert not heartbeat.steady
    outcomes.append(False)
    heartbeat.start()
    try:
        _wait(lambda: heartbeat.last_error is not None)
        assert not heartbeat.steady
        outcomes.append(True)
        _wait(lambda: heartbeat.steady)
        outcomes.append(False)
        _wait(lambda: not heartbeat.steady)
    finally:
        asyncio.run(heartbeat.stop())


def _wait(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout  # a bound on waiting, not a speed claim
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.005)


async def _beating(worker: Worker) -> bool:
    return worker._heartbeat.last_beat is not None


class _Item(BaseModel):
    n: int


async def _work(data: _Item) -> int:
    return data.n


# ---------------------------------------------------------------------------------------- real processes


@pytest.fixture(params=["sqlite", "postgres"])
def process_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextmanager
def worker_process(url: str, worker_id: str, mode: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "queue_worker_process.py"), url, worker_id, mode],
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def _completed(store: JobStore) -> int:
    return (await store.counts())[JobStatus.COMPLETED]


async def test_sigkilled_worker_jobs_resume_before_their_leases_end(process_store_url: str) -> None:
    """Default settings: the victim's jobs come back through its silence, not through its 30 s leases."""
    store = store_from_url(process_store_url)
    await store.open()
    try:
        total = 3000
        await store.enqueue([NewJob(action="work", payload=encode_json({"n": i})) for i in range(total)])
        with worker_process(process_store_url, "victim", "defaults") as proc:
            await eventually(lambda: _at_least(store, 300), timeout=60)
            proc.send_signal(signal.SIGKILL)
            killed_at = time.time()
            await asyncio.to_thread(proc.wait, 10)
        in_flight = [j for j in await store.list(limit=total) if j.worker_id == "victim"]
        assert in_flight, "the worker was killed with no job in flight: the test proves nothing"
        assert await _completed(store) < total
        statuses = {j.id: j.status for j in in_flight}
        leases_end = min(j.lease_expires_at.timestamp() for j in in_flight if j.lease_expires_at)
        survivor = Worker(store, make_dispatcher(make_action("work", _work, _Item)), concurrency=20)
        async with running(survivor):
            await eventually(lambda: _all_done(store, total), timeout=90)
        jobs = {j.id: j for j in await store.list(limit=total)}
        assert len(jobs) == total and all(j.status is JobStatus.COMPLETED for j in jobs.values())
        assert sorted(j.result for j in jobs.values()) == list(range(total))
        for jid, status in statuses.items():  # started jobs spent their attempt; prefetched ones did not
            assert jobs[jid].attempts == (2 if status is JobStatus.PROCESSING else 1), (jid, status)
        resumed_at = min(jobs[jid].started_at.timestamp() for jid in statuses)  # type: ignore[union-attr]
        print(f"\nSIGKILL to resumption: {resumed_at - killed_at:.2f} s ({len(in_flight)} jobs in flight)")
        assert resumed_at < leases_end  # reclaimed through the missing heartbeat, not the expired leases
    finally:
        await store.close()


async def test_a_worker_whose_event_loop_is_blocked_keeps_its_job(process_store_url: str) -> None:
    """Its 1 s lease expires while a handler holds the loop for 3 s: the heartbeat thread keeps it alive."""
    store = store_from_url(process_store_url)
    await store.open()
    try:
        with worker_process(process_store_url, "busy", "blocking") as proc:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            await eventually(lambda: _has_heartbeat_row(process_store_url, "busy"), timeout=30)
            [jid] = await store.enqueue([NewJob(action="block", payload='{"seconds": 3}')])
            ran_here: list[float] = []

            async def block(data: BaseModel) -> str:
                ran_here.append(time.time())
                return "ran twice"

            class Hold(BaseModel):
                seconds: float

            watcher = Worker(
                store,
                make_dispatcher(make_action("block", block, Hold)),
                reclaim_interval=0.1,
                poll_interval=0.05,
                queues=["default"],
            )
            await eventually(lambda: _claimed_by(store, jid, "busy"), timeout=30)
            async with running(watcher):
                done = await wait_status(store, jid, "completed", "dead", timeout=30)
        assert ran_here == [] and done.result == "held" and done.attempts == 1
    finally:
        await store.close()


async def _has_heartbeat_row(url: str, worker_id: str) -> bool:
    query = "SELECT count(*) FROM plugwork_workers WHERE id = "
    if url.startswith("sqlite"):
        from plugwork.queue.sqlite import sqlite_path

        with sqlite3.connect(sqlite_path(url)) as conn:
            return bool(conn.execute(query + "?", (worker_id,)).fetchone()[0])
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval(query + "$1", worker_id))
    finally:
        await conn.close()


async def _claimed_by(store: JobStore, jid: str, worker_id: str) -> bool:
    job = await store.get(jid)
    return job is not None and job.worker_id == worker_id


async def _at_least(store: JobStore, n: int) -> bool:
    try:
        return await _completed(store) >= n
    except Exception:
        return False


async def _all_done(store: JobStore, n: int) -> bool:
    return await _completed(store) == n


async def test_an_in_memory_sqlite_store_beats_without_a_table_to_write() -> None:
    store = store_from_url("sqlite:///:memory:")
    await store.open()
    try:
        worker = Worker(
            store, make_dispatcher(make_action("work", _work, _Item)), heartbeat_interval=0.02, dead_after=0.1
        )
        async with running(worker):
            await eventually(lambda: _beating(worker))
            assert worker._heartbeat.last_error is None  # no other process can open it: nothing to write
    finally:
        await store.close()
