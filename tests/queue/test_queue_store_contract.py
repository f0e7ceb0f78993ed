"""One contract suite, run against the memory, SQLite and PostgreSQL stores alike."""

from __future__ import annotations

import asyncio
import time

import pytest

from plugwork.queue.jobs import Finish, JobStatus, NewJob, encode_json
from plugwork.queue.store import JobStore


def new(action: str = "greet", **kw: object) -> NewJob:
    return NewJob(action=action, payload=kw.pop("payload", '{"name": "x"}'), **kw)  # type: ignore[arg-type]


async def test_enqueue_and_get(store: JobStore) -> None:
    ids = await store.enqueue([new(priority=3, queue="q1", max_attempts=7, correlation_id="c1"), new()])
    assert len(ids) == 2 and ids[0] != ids[1]
    job = await store.get(ids[0])
    assert job is not None
    assert (job.id, job.action, job.payload, job.queue, job.priority) == (
        ids[0],
        "greet",
        {"name": "x"},
        "q1",
        3,
    )
    assert (job.status, job.attempts, job.max_attempts, job.correlation_id) == (JobStatus.READY, 0, 7, "c1")
    assert job.run_at is not None and job.created_at is not None and job.finished_at is None
    assert await store.get("999999999") is None
    assert await store.get("not-an-id") is None


async def test_enqueue_returns_ids_in_order(store: JobStore) -> None:
    jobs = [new(payload=encode_json({"name": str(i)})) for i in range(50)]
    ids = await store.enqueue(jobs)
    for i, jid in enumerate(ids):
        job = await store.get(jid)
        assert job is not None and job.payload == {"name": str(i)}


async def test_idempotency_key_returns_first_id(store: JobStore) -> None:
    first = await store.enqueue([new(idempotency_key="k1")])
    again = await store.enqueue([new(idempotency_key="k1"), new(idempotency_key="k2"), new()])
    assert again[0] == first[0]
    assert len(set(again)) == 3
    same_batch = await store.enqueue([new(idempotency_key="k3"), new(idempotency_key="k3")])
    assert same_batch[0] == same_batch[1]
    counts = await store.counts()
    assert counts[JobStatus.READY] == 4


async def test_claim_orders_by_priority_then_run_at(store: JobStore) -> None:
    now = time.time()
    low_old = (await store.enqueue([new(priority=0, run_at=now - 10)]))[0]
    low_new = (await store.enqueue([new(priority=0, run_at=now - 5)]))[0]
    high = (await store.enqueue([new(priority=5, run_at=now - 1)]))[0]
    await store.enqueue([new(priority=9, run_at=now + 3600)])  # not due yet
    order = []
    for _ in range(4):
        got = await store.claim("w1", None, 1, 30)
        order.extend(j.id for j in got)
    assert order == [high, low_old, low_new]


async def test_claim_marks_assigned_and_counts_attempts(store: JobStore) -> None:
    [jid] = await store.enqueue([new(correlation_id="corr")])
    [claimed] = await store.claim("w1", None, 10, 30)
    assert (claimed.id, claimed.action, claimed.attempts, claimed.correlation_id) == (jid, "greet", 1, "corr")
    assert claimed.payload.replace(" ", "") == '{"name":"x"}'
    assert claimed.ready_at <= time.time() + 1
    job = await store.get(jid)
    assert job is not None and job.status is JobStatus.ASSIGNED and job.worker_id == "w1"
    assert job.lease_expires_at is not None and job.started_at is not None
    assert await store.claim("w2", None, 10, 30) == []
    await store.start("w1", [jid])
    job = await store.get(jid)
    assert job is not None and job.status is JobStatus.PROCESSING


async def test_claim_filters_queues(store: JobStore) -> None:
    [a] = await store.enqueue([new(queue="a")])
    [b] = await store.enqueue([new(queue="b")])
    assert [j.id for j in await store.claim("w", ["b"], 10, 30)] == [b]
    assert [j.id for j in await store.claim("w", ["a", "c"], 10, 30)] == [a]


async def test_concurrent_claims_never_share_a_job(store: JobStore) -> None:
    await store.enqueue([new() for _ in range(200)])
    batches = await asyncio.gather(*(store.claim(f"w{i}", None, 30, 30) for i in range(10)))
    ids = [j.id for batch in batches for j in batch]
    assert len(ids) == len(set(ids)) == 200


async def test_finish_completed_failed_dead(store: JobStore) -> None:
    ids = await store.enqueue([new(), new(), new()])
    await store.claim("w1", None, 10, 30)
    retry_at = time.time() + 3600
    changed = await store.finish(
        "w1",
        [
            Finish(ids[0], JobStatus.COMPLETED, result='{"ok": 1}'),
            Finish(ids[1], JobStatus.FAILED, error='{"error_code": "TIMEOUT"}', run_at=retry_at),
            Finish(ids[2], JobStatus.DEAD, error='{"error_code": "VALIDATION_ERROR"}'),
        ],
    )
    assert changed == 3
    done, failed, dead = [await store.get(i) for i in ids]
    assert done and done.status is JobStatus.COMPLETED and done.result == {"ok": 1} and done.finished_at
    assert done.worker_id is None
    assert failed and failed.status is JobStatus.FAILED and failed.error == {"error_code": "TIMEOUT"}
    assert failed.run_at is not None and abs(failed.run_at.timestamp() - retry_at) < 1
    assert dead and dead.status is JobStatus.DEAD and dead.finished_at is not None
    assert await store.claim("w1", None, 10, 30) == []  # the failed job waits for its run_at


async def test_failed_job_is_claimed_again_when_due(store: JobStore) -> None:
    [jid] = await store.enqueue([new()])
    await store.claim("w1", None, 10, 30)
    await store.finish("w1", [Finish(jid, JobStatus.FAILED, error="{}", run_at=time.time() - 1)])
    [again] = await store.claim("w2", None, 10, 30)
    assert again.id == jid and again.attempts == 2


async def test_finish_ignores_jobs_not_owned(store: JobStore) -> None:
    a, b = await store.enqueue([new(), new()])
    await store.claim("w1", None, 10, 30)
    await store.cancel(b)
    changed = await store.finish("w2", [Finish(a, JobStatus.COMPLETED, result="1")]) + await store.finish(
        "w1", [Finish(b, JobStatus.COMPLETED, result="1")]
    )
    assert changed == 0
    ja, jb = await store.get(a), await store.get(b)
    assert ja and ja.status is JobStatus.ASSIGNED
    assert jb and jb.status is JobStatus.CANCELLED


async def test_renew_reports_owned_jobs(store: JobStore) -> None:
    a, b, c = await store.enqueue([new(), new(), new()])
    await store.claim("w1", None, 2, 0.5)
    await store.claim("w2", None, 5, 30)
    before = await store.get(a)
    await store.cancel(b)
    owned = await store.renew("w1", [a, b, c], 60)
    assert owned == {a}
    after = await store.get(a)
    assert before and after and before.lease_expires_at and after.lease_expires_at
    assert after.lease_expires_at > before.lease_expires_at
    assert await store.renew("w2", [c], 60) == {c}
    assert await store.renew("w2", [], 60) == set()


async def test_renew_leaves_unknown_jobs_to_expire(store: JobStore) -> None:
    known, lost = await store.enqueue([new(), new()])
    await store.claim("w1", None, 2, 0.05)  # say the answer about `lost` never reached the worker
    await store.renew("w1", [known], 60)
    await asyncio.sleep(0.2)
    assert await store.reclaim_expired() == 1
    j_known, j_lost = await store.get(known), await store.get(lost)
    assert j_known and j_known.status is JobStatus.ASSIGNED
    assert j_lost and j_lost.status is JobStatus.READY


async def test_release_gives_back_the_attempt(store: JobStore) -> None:
    [jid] = await store.enqueue([new()])
    await store.claim("w1", None, 1, 30)
    assert await store.release("w1", [jid]) == 1
    job = await store.get(jid)
    assert job and job.status is JobStatus.READY and job.attempts == 0 and job.worker_id is None
    assert await store.release("w1", [jid]) == 0


async def test_reclaim_expired_leases(store: JobStore) -> None:
    again, last = await store.enqueue([new(max_attempts=3), new(max_attempts=1)])
    await store.claim("w1", None, 10, 0.05)
    await store.start("w1", [again, last])  # started: a lost delivery spends its attempt
    early = await store.reclaim_expired()  # the leases may or may not have expired yet
    await asyncio.sleep(0.2)
    assert early + await store.reclaim_expired() == 2
    j1, j2 = await store.get(again), await store.get(last)
    assert j1 and j1.status is JobStatus.READY and j1.attempts == 1 and j1.worker_id is None
    assert j2 and j2.status is JobStatus.DEAD and j2.finished_at is not None
    assert "lease expired" in j2.error["error_message"]
    assert await store.finish("w1", [Finish(again, JobStatus.COMPLETED, result="1")]) == 0
    [reclaimed] = await store.claim("w2", None, 10, 30)
    assert reclaimed.id == again and reclaimed.attempts == 2


async def test_list_filters_and_pages(store: JobStore) -> None:
    ids = await store.enqueue([new("a"), new("b"), new("a"), new("a")])
    await store.cancel(ids[3])
    listed = await store.list()
    assert [j.id for j in listed] == list(reversed(ids))
    assert [j.id for j in await store.list(action="a", status=JobStatus.READY)] == [ids[2], ids[0]]
    assert [j.id for j in await store.list(limit=2, offset=1)] == [ids[2], ids[1]]
    assert [j.id for j in await store.list(status=JobStatus.CANCELLED)] == [ids[3]]


async def test_cancel_and_retry(store: JobStore) -> None:
    a, b = await store.enqueue([new(), new()])
    cancelled = await store.cancel(a)
    assert cancelled and cancelled.status is JobStatus.CANCELLED and cancelled.finished_at
    assert [j.id for j in await store.claim("w", None, 10, 30)] == [b]
    await store.finish("w", [Finish(b, JobStatus.COMPLETED, result="2")])
    still_done = await store.cancel(b)
    assert still_done and still_done.status is JobStatus.COMPLETED
    again = await store.retry(a)
    assert again and again.status is JobStatus.READY and again.attempts == 0 and again.finished_at is None
    not_retried = await store.retry(b)
    assert not_retried and not_retried.status is JobStatus.COMPLETED
    assert await store.cancel("123456789") is None and await store.retry("123456789") is None


async def test_purge_only_old_finished_jobs(store: JobStore) -> None:
    a, b, c = await store.enqueue([new(), new(), new()])
    await store.claim("w", None, 2, 30)
    await store.finish(
        "w", [Finish(a, JobStatus.COMPLETED, result="1"), Finish(b, JobStatus.DEAD, error="{}")]
    )
    assert await store.purge(time.time() - 3600) == 0
    assert await store.purge(time.time() + 1) == 2
    assert await store.get(a) is None and await store.get(b) is None
    assert await store.get(c) is not None


async def test_counts(store: JobStore) -> None:
    await store.enqueue([new(), new(), new()])
    await store.claim("w", None, 1, 30)
    counts = await store.counts()
    assert counts[JobStatus.READY] == 2 and counts[JobStatus.ASSIGNED] == 1
    assert set(counts) == set(JobStatus) and counts[JobStatus.DEAD] == 0


async def test_depth_counts_waiting_and_running_only(store: JobStore) -> None:
    ids = await store.enqueue([new() for _ in range(5)])
    await store.claim("w", None, 2, 30)
    await store.start("w", [ids[0]])
    await store.claim("w", None, 1, 30)
    await store.finish("w", [Finish(ids[2], JobStatus.FAILED, error="{}", run_at=time.time() + 60)])
    await store.cancel(ids[4])
    depth = await store.depth()
    assert depth == {
        JobStatus.READY: 1,
        JobStatus.FAILED: 1,
        JobStatus.ASSIGNED: 1,
        JobStatus.PROCESSING: 1,
    }


async def test_undecodable_payload_is_stored_and_claimed(store: JobStore) -> None:
    [jid] = await store.enqueue([new(payload="{not json")])
    job = await store.get(jid)
    assert job and job.payload == "{not json"
    [claimed] = await store.claim("w", None, 1, 30)
    assert claimed.payload == "{not json"


async def test_wait_for_jobs_wakes_on_enqueue(store: JobStore) -> None:
    waiter = asyncio.create_task(store.wait_for_jobs(30))
    await asyncio.sleep(0.05)
    await store.enqueue([new()])
    await asyncio.wait_for(waiter, 10)
    await asyncio.wait_for(store.wait_for_jobs(0.01), 10)  # nothing new: returns after its timeout


async def test_migrate_is_idempotent(store: JobStore) -> None:
    assert await store.migrate() == []
    await store.ping()


async def test_large_enqueues_are_chunked_in_one_transaction(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plugwork.queue.postgres as pg_module
    import plugwork.queue.sqlite as sqlite_module

    monkeypatch.setattr(pg_module, "ENQUEUE_CHUNK", 7)
    monkeypatch.setattr(sqlite_module, "ENQUEUE_CHUNK", 7)
    [early] = await store.enqueue([new(idempotency_key="dup")])
    jobs = [new(payload=encode_json({"name": str(i)})) for i in range(30)]
    jobs[12] = new(idempotency_key="dup")
    ids = await store.enqueue(jobs)
    assert ids[12] == early
    for i, jid in enumerate(ids):
        if i != 12:
            job = await store.get(jid)
            assert job is not None and job.payload == {"name": str(i)}
    assert len(set(ids)) == 30
