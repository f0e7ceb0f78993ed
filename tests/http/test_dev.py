"""Dev mode (usvc-lib parity): ``POST /dev/job`` runs one job through the in-memory queue and waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from http_app import make_app

from plugwork.queue import JobQueue
from plugwork.testing import TestClient


@pytest.fixture
async def dev() -> AsyncIterator[TestClient]:
    # dev_mode alone picks the in-memory queue: no queue_url given here on purpose.
    async with TestClient(make_app(), dev_mode=True, queue_url=None, plugboard_url="") as client:
        yield client


async def test_dev_mode_uses_the_in_memory_queue(dev: TestClient) -> None:
    assert dev.app.settings.queue_url == "memory://"
    assert dev.app.get(JobQueue) is not None


async def test_dev_job_completed(dev: TestClient) -> None:
    response = await dev.http.post("/dev/job", json={"action": "greet", "name": "World"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"job_id", "status", "results", "error", "runtime_ms"}
    assert body["status"] == "Completed"
    assert body["results"] == {"message": "Hello, World!"}
    assert body["error"] is None
    assert isinstance(body["job_id"], str) and body["job_id"]
    assert isinstance(body["runtime_ms"], int | float) and body["runtime_ms"] >= 0


async def test_dev_job_unknown_action(dev: TestClient) -> None:
    response = await dev.http.post("/dev/job", json={"action": "nope", "name": "World"})
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "Failed" and body["results"] is None
    assert body["error"]["error_code"] == "UNKNOWN_ACTION"
    assert "nope" in body["error"]["error_message"]


async def test_dev_job_invalid_input(dev: TestClient) -> None:
    response = await dev.http.post("/dev/job", json={"action": "greet", "name": ""})
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "Failed"
    assert body["error"]["error_code"] == "VALIDATION_ERROR"
    assert body["error"]["error_message"]


async def test_dev_job_handler_failure(dev: TestClient) -> None:
    response = await dev.http.post("/dev/job", json={"action": "crash"})
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "Failed" and body["error"]["error_code"] == "INTERNAL"
    assert "hunter2" not in response.text


async def test_dev_job_without_action_is_400(dev: TestClient) -> None:
    for content in (b'{"name": "World"}', b"not json", b"[1]"):
        response = await dev.http.post(
            "/dev/job", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, content
        assert response.json()["error_code"] == "BAD_REQUEST"


async def test_dev_job_inline_without_a_queue() -> None:
    async with TestClient(make_app(), dev_mode=True, queue_url="none", plugboard_url="") as client:
        ok = await client.http.post("/dev/job", json={"action": "greet", "name": "World"})
        failed = await client.http.post("/dev/job", json={"action": "nope"})
    assert ok.status_code == 200
    assert ok.json()["status"] == "Completed" and ok.json()["results"] == {"message": "Hello, World!"}
    assert failed.status_code == 422
    assert failed.json()["status"] == "Failed" and failed.json()["error"]["error_code"] == "UNKNOWN_ACTION"


async def test_not_mounted_outside_dev_mode() -> None:
    async with TestClient(make_app(), queue_url="none", plugboard_url="") as client:
        response = await client.http.post("/dev/job", json={"action": "greet", "name": "World"})
    assert response.status_code == 404
