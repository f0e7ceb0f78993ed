"""The correlation id travels: HTTP request -> the job it enqueues -> the worker's log lines, and producer
-> Plugboard hub -> consumer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from plugwork import App, Context, action, get_logger
from plugwork.observability import logging as plugwork_logging
from plugwork.observability.logging import configure_logging
from plugwork.queue import JobQueue
from plugwork.testing import TestClient

log = get_logger("tests.seam")


class Order(BaseModel):
    item: str


@action
async def place(order: Order, app: App) -> dict[str, str]:
    return {"job_id": await app.enqueue("ship", order.model_dump())}


@action
async def ship(order: Order, ctx: Context) -> dict[str, str]:
    log.info("shipping", item=order.item)
    return {"correlation_id": ctx.correlation_id}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    out = io.StringIO()
    configure_logging(json=True, level="INFO", stream=out)
    yield out
    plugwork_logging._reset_for_tests()
    root.setLevel(level)


async def test_an_http_request_id_reaches_the_job_and_the_worker_log(stream: io.StringIO) -> None:
    async with TestClient(App("shop", actions=[place, ship])) as client:
        response = await client.http.post(
            "/actions/place", json={"item": "book"}, headers={"X-Correlation-ID": "order-7"}
        )
        assert response.headers["x-correlation-id"] == "order-7"
        job = await client.app.get(JobQueue).wait(response.json()["job_id"], timeout=10)
    assert job.status == "completed"
    assert job.correlation_id == "order-7"
    assert job.result == {"correlation_id": "order-7"}
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    shipping = [line for line in lines if line.get("event") == "shipping"]
    assert shipping and shipping[0]["correlation_id"] == "order-7"
    assert shipping[0]["job_id"] == job.id


async def test_post_jobs_stores_the_request_correlation_id() -> None:
    open_jobs = {"queue": {"jobs_api": "open"}}  # the jobs API is off unless guarded or opened
    async with TestClient(App("shop", actions=[ship]), plugins=open_jobs) as client:
        response = await client.http.post(
            "/jobs", json={"action": "ship", "item": "pen"}, headers={"X-Correlation-ID": "req-9"}
        )
        job = await client.app.get(JobQueue).wait(response.json()["job_id"], timeout=10)
    assert (job.correlation_id, job.result) == ("req-9", {"correlation_id": "req-9"})


async def test_a_job_enqueued_without_a_context_uses_its_own_id() -> None:
    async with TestClient(App("shop", actions=[ship])) as client:
        job_id = await client.app.enqueue("ship", {"item": "cup"})
        job = await client.app.get(JobQueue).wait(job_id, timeout=10)
    assert job.correlation_id is None and job.result == {"correlation_id": job_id}
