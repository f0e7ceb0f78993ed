"""``app.enqueue(..., session=session)``: the job exists if and only if the session's transaction commits."""

from __future__ import annotations

import pytest
from db_models import User
from pydantic import BaseModel

from plugwork import App, action
from plugwork.db import Base, Database, Repository
from plugwork.queue import JobQueue
from plugwork.testing import TestClient


class WelcomeIn(BaseModel):
    email: str


@action("welcome")
async def welcome(input: WelcomeIn) -> dict[str, str]:
    return {"sent": input.email}


async def _started(postgres_url: str) -> tuple[TestClient, Database]:
    db = Database(url=postgres_url)
    client = TestClient(App("shop", actions=[welcome], services=[db]), queue_url=postgres_url, worker=False)
    await client.__aenter__()
    await db.create_all(Base.metadata)
    return client, db


async def test_a_rolled_back_transaction_leaves_no_job(postgres_url: str) -> None:
    client, db = await _started(postgres_url)
    try:
        users = Repository(db, User)
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await users.using(session).create(name="A", email="a@x.org")
                job_id = await client.app.enqueue("welcome", {"email": "a@x.org"}, session=session)
                assert job_id
                raise RuntimeError("payment failed")
        assert await client.app.get(JobQueue).list() == []
        assert await users.count() == 0
    finally:
        await client.__aexit__(None, None, None)


async def test_a_committed_transaction_keeps_the_job_and_the_row(postgres_url: str) -> None:
    client, db = await _started(postgres_url)
    try:
        users = Repository(db, User)
        async with db.transaction() as session:
            await users.using(session).create(name="A", email="a@x.org")
            job_id = await client.app.enqueue("welcome", {"email": "a@x.org"}, session=session)
            # Not visible outside the transaction before it commits.
            assert await client.app.get(JobQueue).list() == []
        job = await client.app.get(JobQueue).get(job_id)
        assert job.action == "welcome" and job.payload == {"email": "a@x.org"}
        assert await users.count() == 1
    finally:
        await client.__aexit__(None, None, None)


async def test_a_session_on_another_database_is_refused(tmp_path: object) -> None:
    db = Database(url=f"sqlite+aiosqlite:///{tmp_path}/app.db")
    app = App("shop", actions=[welcome], services=[db])
    async with TestClient(app, worker=False) as client, db.transaction() as session:
        with pytest.raises(TypeError, match="PostgreSQL session on asyncpg"):
            await client.app.enqueue("welcome", {"email": "a@x.org"}, session=session)
