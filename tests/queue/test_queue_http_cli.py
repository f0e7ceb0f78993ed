"""The job routes (POST /jobs, GET /jobs, retry, cancel) and the ``jobs`` / ``db`` CLI groups."""

from __future__ import annotations

import asyncio
import json
import secrets
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from queue_helpers import make_action
from starlette.applications import Starlette

from plugwork.queue import store_from_url
from plugwork.queue.cli import db, jobs, parse_duration
from plugwork.queue.client import JobQueue
from plugwork.queue.jobs import JobStatus
from plugwork.queue.memory import MemoryJobStore


class Name(BaseModel):
    name: str


async def greet(data: Name) -> str:
    return f"Hello {data.name}"


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, JobQueue]]:
    from plugwork.queue.http import job_routes

    queue = JobQueue(MemoryJobStore(), {"greet": make_action("greet", greet, Name)})
    app = Starlette(routes=job_routes(queue))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c, queue


async def test_post_job_in_the_usvc_form(client: tuple[httpx.AsyncClient, JobQueue]) -> None:
    http, queue = client
    resp = await http.post("/jobs", json={"action": "greet", "name": "World"})
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "ready"
    job = await queue.get(body["job_id"])
    assert job.payload == {"name": "World"} and job.action == "greet"


async def test_post_job_options_body_and_query(client: tuple[httpx.AsyncClient, JobQueue]) -> None:
    http, queue = client
    options = {"delay": 30, "priority": 7, "queue": "mail", "idempotency_key": "k-1", "max_attempts": 2}
    first = await http.post("/jobs", json={"action": "greet", "name": "A", "_options": options})
    again = await http.post("/jobs", json={"action": "greet", "name": "A", "_options": options})
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    job = await queue.get(first.json()["job_id"])
    assert (job.priority, job.queue, job.max_attempts, job.idempotency_key) == (7, "mail", 2, "k-1")
    via_query = await http.post(
        "/jobs?priority=3&run_at=2030-01-01T00:00:00Z", json={"action": "greet", "name": "B"}
    )
    job2 = await queue.get(via_query.json()["job_id"])
    assert job2.priority == 3 and job2.run_at and job2.run_at.year == 2030


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "greet"}, 422, "VALIDATION_ERROR"),
        ({"action": "nope", "name": "x"}, 404, "UNKNOWN_ACTION"),
        ({"name": "x"}, 400, "BAD_REQUEST"),
        ({"action": "greet", "name": "x", "_options": {"priority": "high"}}, 422, "VALIDATION_ERROR"),
        ({"action": "greet", "name": "x", "_options": {"colour": 1}}, 422, "VALIDATION_ERROR"),
        ({"action": "greet", "name": "x", "_options": [1]}, 400, "BAD_REQUEST"),
    ],
)
async def test_post_job_errors(
    client: tuple[httpx.AsyncClient, JobQueue], body: dict[str, object], status: int, code: str
) -> None:
    http, _ = client
    resp = await http.post("/jobs", json=body)
    assert resp.status_code == status
    assert resp.json()["error_code"] == code
    assert set(resp.json()) == {"error_code", "error_message", "details"}


async def test_post_job_field_details_and_limits(client: tuple[httpx.AsyncClient, JobQueue]) -> None:
    http, _ = client
    resp = await http.post("/jobs", json={"action": "greet", "name": 5})
    assert resp.json()["details"][0]["field"] == "name"
    opts = await http.post("/jobs", json={"action": "greet", "name": "x", "_options": {"priority": "high"}})
    assert opts.json()["details"][0]["field"] == "_options.priority"
    bad = await http.post("/jobs", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    huge = await http.post("/jobs", content=b"x" * (1 << 21))
    assert huge.status_code == 413


async def test_get_list_retry_cancel(client: tuple[httpx.AsyncClient, JobQueue]) -> None:
    http, queue = client
    ids = [
        (await http.post("/jobs", json={"action": "greet", "name": str(i)})).json()["job_id"]
        for i in range(3)
    ]
    one = await http.get(f"/jobs/{ids[0]}")
    assert (
        one.status_code == 200 and one.json()["payload"] == {"name": "0"} and one.json()["status"] == "ready"
    )
    missing = await http.get("/jobs/99999")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    cancelled = await http.post(f"/jobs/{ids[1]}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    listed = await http.get("/jobs", params={"status": "ready", "action": "greet"})
    assert [j["id"] for j in listed.json()["jobs"]] == [ids[2], ids[0]]
    assert (await http.get("/jobs", params={"limit": 1})).json()["count"] == 1
    assert (await http.get("/jobs", params={"status": "weird"})).status_code == 422
    assert (await http.get("/jobs", params={"limit": "x"})).status_code == 400
    retried = await http.post(f"/jobs/{ids[1]}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "ready"
    conflict = await http.post(f"/jobs/{ids[0]}/retry")
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "CONFLICT"
    assert (await queue.get(ids[1])).status is JobStatus.READY


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "30s", "15m", "12h", "7d", "1w")] == [
        90,
        30,
        900,
        43200,
        604800,
        604800,
    ]


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    migrated = runner.invoke(db, ["migrate", "--queue-url", url])
    assert migrated.exit_code == 0, migrated.output
    assert "applied migrations: 1" in migrated.output
    assert "up to date" in runner.invoke(db, ["migrate", "--queue-url", url]).output

    module = f"cliapp_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from plugwork.actions import action
            from plugwork.app import App

            class Name(BaseModel):
                name: str

            @action
            async def greet(data: Name) -> str:
                return data.name

            app = App("cli-test", actions=[greet])
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    lines = [json.dumps({"name": f"n{i}"}) for i in range(25)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n\n")
    done = runner.invoke(
        jobs, ["enqueue", "--queue-url", url, f"{module}:app", "greet", "--from", "in.jsonl", "--batch", "10"]
    )
    assert done.exit_code == 0, done.output
    assert "enqueued 25 job(s)" in done.output
    (tmp_path / "bad.jsonl").write_text('{"name": "ok"}\n{"nom": 1}\n')
    bad = runner.invoke(
        jobs, ["enqueue", "--queue-url", url, f"{module}:app", "greet", "--from", "bad.jsonl"]
    )
    assert bad.exit_code != 0 and "name" in bad.output

    listed = runner.invoke(jobs, ["list", "--queue-url", url, "--limit", "5"])
    assert listed.exit_code == 0 and listed.output.count("greet") == 5
    as_json = json.loads(
        runner.invoke(jobs, ["list", "--queue-url", url, "--json", "--status", "ready"]).output
    )
    assert len(as_json) == 25
    first = as_json[-1]["id"]
    shown = json.loads(runner.invoke(jobs, ["show", "--queue-url", url, first]).output)
    assert shown["payload"] == {"name": "n0"}
    assert "cancelled" in runner.invoke(jobs, ["cancel", "--queue-url", url, first]).output
    assert "ready" in runner.invoke(jobs, ["retry", "--queue-url", url, first]).output
    missing = runner.invoke(jobs, ["show", "--queue-url", url, "777777"])
    assert missing.exit_code != 0 and "not found" in missing.output
    runner.invoke(jobs, ["cancel", "--queue-url", url, first])
    purged = runner.invoke(jobs, ["purge", "--queue-url", url, "--older-than", "0s"])
    assert purged.exit_code == 0 and "purged 1 job(s)" in purged.output
    assert asyncio.run(_counts(url))[JobStatus.READY] == 24


async def _counts(url: str) -> dict[JobStatus, int]:
    store = store_from_url(url)
    await store.open()
    try:
        return await store.counts()
    finally:
        await store.close()
