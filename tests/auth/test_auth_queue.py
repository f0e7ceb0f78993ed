"""Per-action permissions on the queue: checked at enqueue, the enqueuer's identity signed into the job."""

from __future__ import annotations

import json

import pytest
from auth_app import bearer, make_app
from auth_keys import forged_tokens

from plugwork import Context
from plugwork.auth.carriers import IDENTITY_HEADER, IdentitySigner
from plugwork.queue import JobQueue
from plugwork.queue.jobs import NewJob
from plugwork.testing import TestClient

FORGED = forged_tokens()


@pytest.fixture
async def client() -> TestClient:
    async with TestClient(make_app()) as c:
        yield c


async def test_post_jobs_needs_what_a_direct_call_needs(client: TestClient) -> None:
    job = {"action": "create_order", "item": "pen"}
    anonymous = await client.http.post("/jobs", json=job)
    assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers
    assert (await client.http.post("/jobs", json=job, headers=bearer("orders:read"))).status_code == 403
    assert (await client.http.post("/jobs", json={"action": "nope"})).status_code == 401  # names stay hidden
    accepted = await client.http.post("/jobs", json=job, headers=bearer("orders:write"))
    assert accepted.status_code == 202
    queue = client.app.get(JobQueue)
    done = await queue.wait(accepted.json()["job_id"], timeout=10)
    assert done.status == "completed"
    # The handler sees the enqueuer, and the job row holds a signed identity, never the token.
    assert done.result == {"item": "pen", "by": "alice", "transport": "queue"}
    assert IDENTITY_HEADER in done.headers and "authorization" not in done.headers
    token = bearer("orders:write")["Authorization"].split()[1]
    assert token.split(".")[2] not in json.dumps(done.to_dict())


async def test_public_actions_can_be_enqueued_anonymously(client: TestClient) -> None:
    assert (await client.http.post("/jobs", json={"action": "ping"})).status_code == 202


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_forged_tokens_cannot_enqueue(client: TestClient, name: str) -> None:
    headers = {"Authorization": f"Bearer {FORGED[name]}"}
    refused = await client.http.post("/jobs", json={"action": "create_order"}, headers=headers)
    assert refused.status_code == 401, name
    assert await client.app.get(JobQueue).list() == []


async def test_reading_and_managing_jobs_need_their_permissions(client: TestClient) -> None:
    assert (await client.http.get("/jobs")).status_code == 401
    assert (await client.http.get("/jobs", headers=bearer("orders:write"))).status_code == 403
    assert (await client.http.get("/jobs", headers=bearer("jobs:read"))).status_code == 200
    assert (await client.http.get("/jobs/1", headers=bearer("orders:write"))).status_code == 403
    assert (await client.http.post("/jobs/1/cancel", headers=bearer("jobs:read"))).status_code == 403
    assert (await client.http.post("/jobs/1/cancel", headers=bearer("jobs:manage"))).status_code == 404


async def test_a_job_only_action_is_not_enqueued_over_http_even_with_every_permission(
    client: TestClient,
) -> None:
    refused = await client.http.post("/jobs", json={"action": "audit"}, headers=bearer("orders:write"))
    assert refused.status_code == 403


async def test_an_identity_header_sent_to_post_jobs_is_ignored(client: TestClient) -> None:
    forged = IdentitySigner(b"k" * 32).sign({"sub": "root", "permissions": ["orders:write"]})
    refused = await client.http.post(
        "/jobs", json={"action": "create_order"}, headers={IDENTITY_HEADER: forged}
    )
    assert refused.status_code == 401


async def test_a_job_row_with_a_forged_identity_dies_unrun(client: TestClient) -> None:
    queue = client.app.get(JobQueue)
    forged = IdentitySigner(b"k" * 32).sign({"sub": "root", "permissions": ["orders:write"]})
    [job_id] = await queue.store.enqueue(
        [NewJob("audit", max_attempts=1, headers=json.dumps({IDENTITY_HEADER: forged}))]
    )
    job = await queue.wait(job_id, timeout=10)
    assert job.status == "dead" and job.result is None
    assert "UNAUTHORIZED" in json.dumps(job.to_dict())


async def test_the_apps_own_enqueue_carries_its_callers_identity(client: TestClient) -> None:
    queue = client.app.get(JobQueue)
    ctx = Context(transport="http", auth={"sub": "bob", "permissions": ["x"]})
    from plugwork.context import current_context

    token = current_context.set(ctx)
    try:
        job_id = await client.app.enqueue("audit", {})
    finally:
        current_context.reset(token)
    job = await queue.wait(job_id, timeout=10)
    assert job.status == "completed" and job.result["auth"]["sub"] == "bob"
    assert job.result["auth"]["permissions"] == ["x"]
    plain = await queue.wait(await client.app.enqueue("audit", {}), timeout=10)
    assert plain.result == {"auth": None}


async def test_without_a_shared_identity_key_jobs_carry_no_identity() -> None:
    from auth_app import audit
    from auth_keys import pem_pair

    from plugwork import App
    from plugwork.auth import AuthPlugin

    _, public = pem_pair("rsa")
    app = App("rs", actions=[audit], plugins=[AuthPlugin(jwt_algorithms=["RS256"], jwt_public_key=public)])
    async with TestClient(app) as c:
        queue = c.app.get(JobQueue)
        from plugwork.context import current_context

        token = current_context.set(Context(transport="http", auth={"sub": "bob"}))
        try:
            job_id = await c.app.enqueue("audit", {})
        finally:
            current_context.reset(token)
        job = await queue.wait(job_id, timeout=10)
        assert job.status == "completed" and job.result == {"auth": None}
        assert IDENTITY_HEADER not in (job.headers or {})
        forged = IdentitySigner(b"k" * 32).sign({"sub": "root"})
        [dead] = await queue.store.enqueue(
            [NewJob("audit", max_attempts=1, headers=json.dumps({IDENTITY_HEADER: forged}))]
        )
        assert (await queue.wait(dead, timeout=10)).status == "dead"
