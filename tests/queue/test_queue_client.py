"""JobQueue: validation at enqueue time, options, management, wait; metrics and health."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field
from queue_helpers import Name, make_action, make_dispatcher, running

from plugwork.context import Context, current_context
from plugwork.errors import ActionError, ErrorCode, InvalidInput, NotFound, Unavailable, UnknownAction
from plugwork.queue import JobStore, store_from_url
from plugwork.queue.client import JobQueue
from plugwork.queue.jobs import JobStatus
from plugwork.queue.memory import MemoryJobStore
from plugwork.queue.metrics import QueueMetrics, queue_health
from plugwork.queue.retry import RetryPolicy
from plugwork.queue.worker import Worker


class Order(BaseModel):
    item: str
    quantity: int = Field(1, ge=1)


async def place(data: Order) -> dict[str, Any]:
    return {"item": data.item, "quantity": data.quantity}


ACTIONS = {"place": make_action("place", place, Order, max_attempts=4, queue="orders")}


@pytest.fixture
def queue(store: JobStore) -> JobQueue:
    return JobQueue(store, ACTIONS)


async def test_enqueue_validates_at_enqueue_time(queue: JobQueue) -> None:
    with pytest.raises(InvalidInput) as info:
        await queue.enqueue("place", {"quantity": 0})
    fields = {d["field"] for d in info.value.details}
    assert fields == {"item", "quantity"}
    with pytest.raises(UnknownAction):
        await queue.enqueue("nope", {})
    with pytest.raises(InvalidInput) as many:
        await queue.enqueue_many("place", [{"item": "a"}, {"item": 5}])
    assert many.value.details[0]["index"] == 1
    assert await queue.list() == []  # all or nothing


async def test_enqueue_options_and_defaults(queue: JobQueue) -> None:
    token = current_context.set(Context(correlation_id="req-1"))
    try:
        jid = await queue.enqueue("place", {"item": "a"}, priority=5, idempotency_key="k")
    finally:
        current_context.reset(token)
    job = await queue.get(jid)
    assert (job.queue, job.max_attempts, job.priority, job.correlation_id) == ("orders", 4, 5, "req-1")
    assert job.payload == {"item": "a"}
    later = await queue.enqueue("place", {"item": "b"}, delay=60, queue="slow", max_attempts=9)
    job2 = await queue.get(later)
    assert job2.run_at and job2.run_at.timestamp() > time.time() + 50
    assert (job2.queue, job2.max_attempts) == ("slow", 9)
    when = datetime.now(UTC) + timedelta(hours=1)
    at = await queue.get(await queue.enqueue("place", {"item": "c"}, run_at=when))
    assert at.run_at and abs(at.run_at.timestamp() - when.timestamp()) < 1
    assert await queue.enqueue("place", Order(item="d")) != jid
    assert await queue.enqueue("place", b'{"item": "e"}')
    assert await queue.enqueue("place", {"item": "x"}, idempotency_key="k") == jid
    with pytest.raises(InvalidInput):
        await queue.enqueue("place", {"item": "a"}, delay=1, run_at=time.time())
    with pytest.raises(InvalidInput):
        await queue.enqueue("place", {"item": "a"}, run_at=datetime(2030, 1, 1))  # naive
    with pytest.raises(ActionError) as big:
        await JobQueue(queue.store, ACTIONS, max_payload_bytes=10).enqueue("place", {"item": "a" * 20})
    assert big.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    with pytest.raises(ActionError) as raw:  # refused for its size before it is parsed
        await JobQueue(queue.store, ACTIONS, max_payload_bytes=10).enqueue("place", "not json" * 5)
    assert raw.value.code is ErrorCode.PAYLOAD_TOO_LARGE


async def test_manage_jobs(queue: JobQueue) -> None:
    a, b = await queue.enqueue_many("place", [{"item": "a"}, {"item": "b"}])
    assert [j.id for j in await queue.list(status="ready")] == [b, a]
    assert (await queue.cancel(a)).status is JobStatus.CANCELLED
    assert (await queue.cancel(a)).status is JobStatus.CANCELLED  # idempotent
    with pytest.raises(ActionError) as conflict:
        await queue.retry(b)  # still ready
    assert conflict.value.code is ErrorCode.CONFLICT
    assert (await queue.retry(a)).status is JobStatus.READY
    assert (await queue.counts())["ready"] == 2
    with pytest.raises(NotFound):
        await queue.get("424242")
    with pytest.raises(NotFound):
        await queue.cancel("424242")
    with pytest.raises(InvalidInput):
        await queue.list(status="bogus")
    await queue.cancel(a)
    assert await queue.purge(timedelta(hours=1)) == 0
    assert await queue.purge(-10) == 1


async def test_wait_returns_the_finished_job(store: JobStore) -> None:
    queue = JobQueue(store, ACTIONS)
    jid = await queue.enqueue("place", {"item": "a", "quantity": 3})
    async with running(Worker(store, make_dispatcher(*ACTIONS.values()), poll_interval=0.02)):
        job = await queue.wait(jid, timeout=10)
    assert job.status is JobStatus.COMPLETED and job.result == {"item": "a", "quantity": 3}
    pending = await queue.enqueue("place", {"item": "b"})
    not_yet = await queue.wait(pending, timeout=0.01)  # no worker: comes back as it is
    assert not_yet.status is JobStatus.READY


async def test_metrics_count_outcomes_and_latency() -> None:
    calls = {"n": 0}

    async def sometimes(data: Order) -> str:
        calls["n"] += 1
        if data.item == "flaky" and calls["n"] < 2:
            raise Unavailable("later")
        if data.item == "bad":
            raise InvalidInput("bad")
        return "ok"

    spec = make_action("sometimes", sometimes, Order)
    store = MemoryJobStore()
    registry = CollectorRegistry()
    metrics = QueueMetrics(store, ["sometimes"], depth_interval=0.05)
    registry.register(metrics)  # type: ignore[arg-type]  # a collector by shape, not by base class
    assert registry.get_sample_value("plugwork_jobs_total", {"action": "sometimes", "status": "dead"}) == 0
    queue = JobQueue(store, {"sometimes": spec})
    ids = await queue.enqueue_many("sometimes", [{"item": "flaky"}, {"item": "bad"}, {"item": "fine"}])
    worker = Worker(
        store, make_dispatcher(spec), metrics=metrics, poll_interval=0.02, retry=RetryPolicy(0.01, 0.02)
    )
    async with running(worker):
        for jid in ids:
            await queue.wait(jid, timeout=10)
        await asyncio.sleep(0.15)  # one depth refresh
    sample = registry.get_sample_value
    assert sample("plugwork_jobs_total", {"action": "sometimes", "status": "completed"}) == 2
    assert sample("plugwork_jobs_total", {"action": "sometimes", "status": "failed"}) == 1
    assert sample("plugwork_job_retries_total", {"action": "sometimes"}) == 1
    assert sample("plugwork_jobs_dead_total", {"action": "sometimes"}) == 1
    assert sample("plugwork_job_start_latency_seconds_count", {}) == 4
    assert sample("plugwork_queue_depth", {"status": "ready"}) == 0
    assert sample("plugwork_queue_depth", {"status": "processing"}) == 0
    await queue.enqueue("sometimes", {"item": "waiting"})
    await metrics.refresh_depth()
    assert sample("plugwork_queue_depth", {"status": "ready"}) == 1
    assert sample("plugwork_jobs_active", {}) == 0


async def test_health_check(tmp_path: Any) -> None:
    store = MemoryJobStore()
    metrics = QueueMetrics(store)
    assert (await metrics.health_check())[0] == "GREEN"

    class Troubled:
        worker_id = "w"
        running_jobs = 0
        reconnecting = True
        last_error = "claim: connection refused"

    status, details = await queue_health(store, Troubled())  # type: ignore[arg-type]
    assert status == "YELLOW" and "refused" in details["error"]
    down = store_from_url("postgresql://nobody@127.0.0.1:1/none")
    status, details = await queue_health(down, timeout=5)
    assert status == "RED" and details["error"]


async def test_max_attempts_zero_is_refused_not_defaulted() -> None:
    from plugwork.errors import InvalidInput
    from plugwork.queue import store_from_url
    from plugwork.queue.client import JobQueue

    store = store_from_url("memory://")
    await store.open()
    spec = make_action("noop", _noop)
    try:
        with pytest.raises(InvalidInput, match="max_attempts"):
            await JobQueue(store, {"noop": spec}).enqueue("noop", {}, max_attempts=0)
    finally:
        await store.close()


async def _noop(data: Name) -> None:
    return None


async def test_the_memory_store_honours_a_transaction() -> None:
    from plugwork.queue.memory import MemoryJobStore

    store = MemoryJobStore()
    queue = JobQueue(store, {"greet": make_action("greet", _noop, Name)})
    async with store.transaction() as tx:
        kept = await queue.enqueue("greet", {"name": "kept"}, connection=tx)
        assert await store.get(kept) is None  # not visible before the commit
    assert (await queue.get(kept)).payload == {"name": "kept"}
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            dropped = await queue.enqueue("greet", {"name": "dropped"}, connection=tx)
            raise RuntimeError("boom")
    assert await store.get(dropped) is None
    with pytest.raises(RuntimeError, match="transaction is over"):
        await queue.enqueue("greet", {"name": "late"}, connection=tx)
    with pytest.raises(TypeError, match="its own transactions"):
        await queue.enqueue("greet", {"name": "x"}, connection=object())
