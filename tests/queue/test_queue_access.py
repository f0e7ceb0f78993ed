"""Who may use /jobs: off by default, a static token, open on request; job-only actions stay internal."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from plugwork import App, action
from plugwork.errors import ConfigError
from plugwork.testing import TestClient

TOKEN = "jobs-token-for-tests-0123456789"


class MailIn(BaseModel):
    to: str


@action("send_mail")
async def send_mail(input: MailIn) -> dict[str, str]:
    return {"sent": input.to}


@action("purge", transports=["queue"])
async def purge(input: MailIn) -> dict[str, str]:
    """A job-only action: the app enqueues it, nobody else."""
    return {"purged": input.to}


def client(jobs: dict[str, object], **settings: object) -> TestClient:
    app = App("mailer", actions=[send_mail, purge])
    return TestClient(app, worker=False, plugins={"queue": jobs}, **settings)


async def test_the_jobs_api_is_off_by_default() -> None:
    async with client({}) as c:
        assert (await c.http.post("/jobs", json={"action": "send_mail", "to": "a"})).status_code == 404
        assert (await c.http.get("/jobs")).status_code == 404
        assert await c.app.enqueue("send_mail", {"to": "a"})  # the app itself still enqueues


async def test_dev_mode_opens_it() -> None:
    async with client({}, dev_mode=True) as c:
        assert (await c.http.post("/jobs", json={"action": "send_mail", "to": "a"})).status_code == 202


async def test_token_mode_needs_the_token_on_every_route() -> None:
    async with client({"jobs_api_token": TOKEN}) as c:
        body = {"action": "send_mail", "to": "a"}
        assert (await c.http.post("/jobs", json=body)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        refused = await c.http.post("/jobs", json=body, headers=wrong)
        assert refused.status_code == 401 and TOKEN not in refused.text
        assert (await c.http.get("/jobs", headers=wrong)).status_code == 401
        assert (await c.http.post("/jobs/1/cancel", headers=wrong)).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        created = await c.http.post("/jobs", json=body, headers=good)
        assert created.status_code == 202
        assert (await c.http.get("/jobs", headers=good)).json()["count"] == 1


async def test_a_job_only_action_cannot_be_enqueued_over_http() -> None:
    async with client({"jobs_api": "open"}) as c:
        refused = await c.http.post("/jobs", json={"action": "purge", "to": "a"})
        assert refused.status_code == 403 and refused.json()["error_code"] == "FORBIDDEN"
        assert (await c.http.post("/actions/purge", json={"to": "a"})).status_code == 403
        assert await c.app.enqueue("purge", {"to": "a"})  # the app's own code may


async def test_a_mode_the_app_cannot_honour_fails_the_start() -> None:
    with pytest.raises(ConfigError, match="jobs_api_token"):
        async with client({"jobs_api": "token"}):
            pass
    with pytest.raises(ConfigError, match="auth plugin"):
        async with client({"jobs_api": "auth"}):
            pass
