"""The orders example: its migration, JWT-protected CRUD on the repository, a job in the same transaction."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import jwt
import pytest
from sqlalchemy import MetaData

from plugwork.db import NAMING_CONVENTION, Database
from plugwork.queue import JobQueue
from plugwork.testing import TestClient

ORDERS_DIR = Path(__file__).resolve().parent.parent / "examples" / "orders"
SECRET = "orders-example-secret-0123456789abcdef"
ISSUER = "orders-example"


def _service() -> ModuleType:
    if str(ORDERS_DIR) not in sys.path:
        sys.path.insert(0, str(ORDERS_DIR))
    from orders import service

    return service


def token(*permissions: str, sub: str = "ada") -> dict[str, str]:
    claims = {"sub": sub, "permissions": list(permissions), "iss": ISSUER, "exp": 2_000_000_000}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.fixture
async def client(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.chdir(ORDERS_DIR)
    monkeypatch.setenv("PLUGWORK_DATABASE_URL", postgres_url)
    monkeypatch.setenv("PLUGWORK_JWT_SECRET", SECRET)
    service = _service()
    async with TestClient(service.app, config_file="plugwork.yaml", queue_url=postgres_url) as c:
        await c.app.get(Database).migrate()
        yield c


async def test_writes_need_a_token_with_orders_write(client: TestClient) -> None:
    anonymous = await client.http.post("/actions/create_order", json={"item": "tea"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    reader = await client.http.post(
        "/actions/create_order", json={"item": "tea"}, headers=token("orders:read")
    )
    assert reader.status_code == 403


async def test_an_order_and_its_confirmation_job_commit_together(client: TestClient) -> None:
    created = await client.http.post(
        "/actions/create_order", json={"item": "tea", "quantity": 2}, headers=token("orders:write")
    )
    assert created.status_code == 200, created.text
    order = created.json()
    assert order["customer"] == "ada" and order["confirmed"] is False
    [job] = await client.app.get(JobQueue).list(action="send_confirmation")
    done = await client.app.get(JobQueue).wait(job.id, timeout=10)
    assert done.status == "completed"
    read = await client.http.post(
        "/actions/get_order", json={"id": order["id"]}, headers=token("orders:read")
    )
    assert read.json()["confirmed"] is True
    listed = await client.http.post("/actions/list_orders", json={}, headers=token("orders:read"))
    assert [o["id"] for o in listed.json()] == [order["id"]]
    assert (await client.http.post("/actions/count_orders", json={})).json() == {"open": 1}


async def test_a_cancelled_order_is_gone_from_reads(client: TestClient) -> None:
    write, read = token("orders:write"), token("orders:read")
    order = (await client.http.post("/actions/create_order", json={"item": "tea"}, headers=write)).json()
    assert (
        await client.http.post("/actions/cancel_order", json={"id": order["id"]}, headers=write)
    ).status_code == 200
    missing = await client.http.post("/actions/get_order", json={"id": order["id"]}, headers=read)
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    assert (await client.http.post("/actions/count_orders", json={})).json() == {"open": 0}


async def test_the_confirmation_is_a_job_only_action(client: TestClient) -> None:
    refused = await client.http.post(
        "/actions/send_confirmation", json={"id": "00000000-0000-0000-0000-000000000000"}, headers=token()
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_matches_the_models(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from plugwork.db.migrations import MigrationEnvironment, _include_name

    url = (
        f"sqlite+aiosqlite:///{tmp_path}/o.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    monkeypatch.chdir(ORDERS_DIR)
    service = _service()
    only_orders = MetaData(naming_convention=NAMING_CONVENTION)
    service.Order.__table__.to_metadata(only_orders)
    env = MigrationEnvironment("migrations", Database(url=url).url)
    env.upgrade()

    async def diff() -> list[object]:
        db = Database(url=url)
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"include_name": _include_name(only_orders)}),
                        only_orders,
                    )
                )
        finally:
            await db.stop()

    assert asyncio.run(diff()) == []
    env.downgrade("base")
