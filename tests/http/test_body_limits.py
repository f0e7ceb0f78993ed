"""Every route that reads a body honours max_body_bytes; a client that disconnects mid-body runs nothing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr

from plugwork import App, Service, action
from plugwork.testing import TestClient

CALLS: list[str] = []


class NameIn(BaseModel):
    name: str


@action("record")
async def record(input: NameIn) -> dict[str, str]:
    CALLS.append(input.name)
    return {"name": input.name}


class Pool(Service):
    pass


async def test_dev_job_body_over_the_limit_is_413() -> None:
    async with TestClient(App("t", actions=[record]), dev_mode=True, max_body_bytes=64) as client:
        big = await client.http.post("/dev/job", json={"action": "record", "name": "x" * 100})
        assert big.status_code == 413 and big.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        ok = await client.http.post("/dev/job", json={"action": "record", "name": "ada"})
        assert ok.status_code == 200 and ok.json()["status"] == "Completed"


async def test_management_configure_body_over_the_limit_is_413() -> None:
    app = App("t", actions=[record], services=[Pool])
    settings: dict[str, Any] = {
        "management_api": True,
        "management_token": SecretStr("s3cret"),
        "max_body_bytes": 64,
    }
    async with TestClient(app, **settings) as client:
        auth = {"Authorization": "Bearer s3cret"}
        await client.http.post("/services/pool/stop", headers=auth)
        big = await client.http.post("/services/pool/configure", json={"x": "y" * 100}, headers=auth)
        assert big.status_code == 413


async def test_client_disconnecting_mid_body_runs_nothing() -> None:
    CALLS.clear()
    async with TestClient(App("t", actions=[record])) as client:
        messages = [
            {"type": "http.request", "body": b'{"name": "a', "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/actions/record", "headers": []}
        await client.app.asgi(scope, receive, send)
        assert sent == [] and CALLS == []
