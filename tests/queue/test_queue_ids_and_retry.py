"""Job ids outside a store's range, and a retry racing a worker that claims the retried job at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from queue_helpers import make_action
from starlette.applications import Starlette

from plugwork.queue import JobStore, store_from_url
from plugwork.queue.cli import jobs
from plugwork.queue.client import JobQueue
from plugwork.queue.http import job_routes
from plugwork.queue.jobs import Finish, JobStatus, NewJob

OUT_OF_RANGE = ["99999999999999999999", "9223372036854775808", "-1", "0", "-99999999999999999999"]


class Name(BaseModel):
    name: str


async def greet(data: Name) -> str:
    return f"Hello {data.name}"


@pytest.mark.parametrize("job_id", OUT_OF_RANGE)
async def test_ids_outside_the_range_find_nothing(store: JobStore, job_id: str) -> None:
    await store.enqueue([NewJob(action="greet")])
    assert await store.get(job_id) is None
    assert await store.cancel(job_id) is None
    assert await store.retry(job_id) is None


async def test_get_a_huge_id_over_http_is_a_json_404(tmp_path: Path) -> None:
    store = store_from_url(f"sqlite:///{tmp_path}/jobs.db")
    await store.open()
    try:
        queue = JobQueue(store, {"greet": make_action("greet", greet, Name)})
        app = Starlette(routes=job_routes(queue))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            for path in ("/jobs/99999999999999999999", "/jobs/-5", "/jobs/99999999999999999999/retry"):
                method = http.post if path.endswith("retry") else http.get
                resp = await method(path)
                assert resp.status_code == 404, path
                assert resp.json()["error_code"] == "NOT_FOUND"
    finally:
        await store.close()


async def _dead_job(store: JobStore) -> str:
    [jid] = await store.enqueue([NewJob(action="greet", payload='{"name": "x"}', max_attempts=1)])
    await store.claim("w", None, 1, 30)
    await store.finish("w", [Finish(jid, JobStatus.DEAD, error='{"error_code": "INTERNAL"}')])
    return jid


async def test_retry_reports_success_even_when_a_worker_claims_the_job_at_once(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker may claim the retried job between the retry's write and any read that follows it."""
    jid = await _dead_job(store)
    real_get = store.get
    armed: list[bool] = []

    async def get_after_a_worker_claimed(job_id: str) -> Any:
        if armed:  # every read after the first comes too late: a worker has claimed the job
            await store.claim("fast-worker", None, 10, 30)
        armed.append(True)
        return await real_get(job_id)

    monkeypatch.setattr(store, "get", get_after_a_worker_claimed)
    job = await JobQueue(store, {}).retry(jid)
    assert job.id == jid and job.status is JobStatus.READY and job.attempts == 0


def test_cli_retry_exits_zero_when_a_worker_takes_the_job_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from plugwork.queue.sqlite import SQLiteJobStore

    url = f"sqlite:///{tmp_path}/jobs.db"

    async def setup() -> str:
        store = store_from_url(url)
        await store.open()
        try:
            return await _dead_job(store)
        finally:
            await store.close()

    jid = asyncio.run(setup())
    real_get = SQLiteJobStore.get
    calls: list[str] = []

    async def racing_get(self: SQLiteJobStore, job_id: str) -> Any:
        if calls:
            await self.claim("fast-worker", None, 10, 30)
        calls.append(job_id)
        return await real_get(self, job_id)

    monkeypatch.setattr(SQLiteJobStore, "get", racing_get)
    result = CliRunner().invoke(jobs, ["retry", "--queue-url", url, jid])
    assert result.exit_code == 0, result.output
    assert f"job {jid} is ready" in result.output
