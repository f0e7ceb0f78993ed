"""The queue as an App runs it from settings: queues served by default, retention, POST /jobs body limit."""

from __future__ import annotations

from pydantic import BaseModel

from plugwork import App, action
from plugwork.queue import JobQueue
from plugwork.testing import TestClient


class MailIn(BaseModel):
    to: str


@action("send_mail", queue="mail")
async def send_mail(input: MailIn) -> dict[str, str]:
    return {"sent": input.to}


async def test_worker_serves_every_queue_the_actions_declare_by_default() -> None:
    async with TestClient(App("mailer", actions=[send_mail])) as client:
        queue = client.app.get(JobQueue)
        job_id = await client.app.enqueue("send_mail", {"to": "ada@example.org"})
        job = await queue.wait(job_id, timeout=10)
        assert job.status == "completed" and job.queue == "mail"
        assert job.result == {"sent": "ada@example.org"}


async def test_explicit_queues_limit_what_the_worker_serves() -> None:
    async with TestClient(App("mailer", actions=[send_mail]), queues=["default"]) as client:
        queue = client.app.get(JobQueue)
        job_id = await client.app.enqueue("send_mail", {"to": "ada@example.org"})
        job = await queue.wait(job_id, timeout=0.3)
        assert job.status == "ready"  # nobody serves "mail"


async def test_post_jobs_honours_max_body_bytes() -> None:
    app = App("mailer", actions=[send_mail])
    async with TestClient(app, max_body_bytes=64, plugins={"queue": {"jobs_api": "open"}}) as client:
        response = await client.http.post("/jobs", json={"action": "send_mail", "to": "x" * 100})
        assert response.status_code == 413
        ok = await client.http.post("/jobs", json={"action": "send_mail", "to": "ada"})
        assert ok.status_code == 202
