"""The Processpype-style service management API: off by default, bearer-token guarded when on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from core_helpers import OFFLINE
from plugwork import App, Service, ServiceState
from plugwork.testing import TestClient

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALLS: list[str] = []


class PoolConfig(BaseModel):
    size: int = Field(4, ge=1)


class Pool(Service):
    config_model = PoolConfig

    async def start(self) -> None:
        CALLS.append(f"start size={self.config.size}")

    async def stop(self) -> None:
        CALLS.append("stop")


class Mailer(Service):
    required = False


class Flaky(Service):
    fail = True

    async def start(self) -> None:
        if self.fail:
            raise ConnectionError("smtp down")


def make_app() -> App:
    return App("managed", services=[Pool, Mailer, Flaky])


@pytest.fixture
async def managed() -> AsyncIterator[TestClient]:
    CALLS.clear()
    services = {"flaky": {"autostart": False}, "mailer": {"autostart": False}}
    async with TestClient(
        make_app(), management_api=True, management_token=TOKEN, services=services, version="2.1.0", **OFFLINE
    ) as client:
        yield client


async def test_off_by_default() -> None:
    async with TestClient(make_app(), services={"flaky": {"autostart": False}}, **OFFLINE) as client:
        for path in ("/", "/services", "/services/pool"):
            response = await client.http.get(path, headers=AUTH)
            assert response.status_code == 404, path
        assert (await client.http.post("/services/pool/stop", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
async def test_token_required(managed: TestClient, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/"), ("GET", "/services"), ("POST", "/services/pool/stop")):
        response = await managed.http.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json()["error_code"] == "UNAUTHORIZED"
    assert CALLS == ["start size=4"]  # the stop never ran


async def test_app_status(managed: TestClient) -> None:
    response = await managed.http.get("/", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "name": "managed",
        "version": "2.1.0",
        "state": "running",
        "environment": "development",
        "services": {"pool": "running", "mailer": "configured", "flaky": "configured"},
    }


async def test_list_and_show_services(managed: TestClient) -> None:
    listed = (await managed.http.get("/services", headers=AUTH)).json()
    assert [s["name"] for s in listed] == ["pool", "mailer", "flaky"]
    pool = (await managed.http.get("/services/pool", headers=AUTH)).json()
    assert pool == {
        "name": "pool",
        "state": "running",
        "error": None,
        "autostart": True,
        "config": {"size": 4},
    }
    missing = await managed.http.get("/services/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"


async def test_stop_configure_start(managed: TestClient) -> None:
    stopped = await managed.http.post("/services/pool/stop", headers=AUTH)
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    configured = await managed.http.post("/services/pool/configure", json={"size": 9}, headers=AUTH)
    assert configured.status_code == 200
    assert configured.json()["config"] == {"size": 9} and configured.json()["state"] == "configured"
    started = await managed.http.post("/services/pool/start", headers=AUTH)
    assert started.status_code == 200 and started.json()["state"] == "running"
    assert CALLS == ["start size=4", "stop", "start size=9"]
    assert managed.app.container is not None
    assert managed.app.container.get("pool").state is ServiceState.RUNNING


async def test_configure_and_start(managed: TestClient) -> None:
    response = await managed.http.post("/services/mailer/configure_and_start", json={}, headers=AUTH)
    assert response.status_code == 200 and response.json()["state"] == "running"
    await managed.http.post("/services/pool/stop", headers=AUTH)
    response = await managed.http.post("/services/pool/configure_and_start", json={"size": 2}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["state"] == "running" and response.json()["config"] == {"size": 2}
    assert CALLS[-1] == "start size=2"


async def test_configure_refuses_a_running_service(managed: TestClient) -> None:
    response = await managed.http.post("/services/pool/configure", json={"size": 5}, headers=AUTH)
    assert response.status_code == 409 and response.json()["error_code"] == "CONFLICT"
    pool = (await managed.http.get("/services/pool", headers=AUTH)).json()
    assert pool["state"] == "running" and pool["config"] == {"size": 4}


async def test_configure_and_start_restarts_a_running_service(managed: TestClient) -> None:
    response = await managed.http.post("/services/pool/configure_and_start", json={"size": 6}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["state"] == "running" and response.json()["config"] == {"size": 6}
    assert CALLS[-2:] == ["stop", "start size=6"]


async def test_invalid_config_is_422_naming_the_key(managed: TestClient) -> None:
    await managed.http.post("/services/pool/stop", headers=AUTH)
    response = await managed.http.post("/services/pool/configure", json={"size": 0}, headers=AUTH)
    assert response.status_code == 422
    body: dict[str, Any] = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert body["details"] == {"key": "services.pool.size"}
    assert body["error_message"].startswith("services.pool.size:")
    # A refused configuration changes nothing: the service keeps its old config.
    pool = (await managed.http.get("/services/pool", headers=AUTH)).json()
    assert pool["state"] == "stopped" and pool["config"] == {"size": 4}


async def test_an_invalid_config_leaves_a_running_service_running(managed: TestClient) -> None:
    before = len(CALLS)
    response = await managed.http.post("/services/pool/configure_and_start", json={"size": 0}, headers=AUTH)
    assert response.status_code == 422
    pool = (await managed.http.get("/services/pool", headers=AUTH)).json()
    assert pool["state"] == "running" and pool["config"] == {"size": 4}
    assert CALLS[before:] == []  # never stopped
    assert (await managed.http.get("/health/ready")).status_code == 200


async def test_a_form_body_is_refused_with_415(managed: TestClient) -> None:
    response = await managed.http.post("/services/pool/configure", data={"size": "2"}, headers=AUTH)
    assert response.status_code == 415


async def test_malformed_or_non_object_config_is_400(managed: TestClient) -> None:
    await managed.http.post("/services/pool/stop", headers=AUTH)
    for content in (b"{size", b"[1, 2]"):
        headers = {**AUTH, "content-type": "application/json"}
        response = await managed.http.post("/services/pool/configure", content=content, headers=headers)
        assert response.status_code == 400, content
        assert response.json()["error_code"] == "BAD_REQUEST"


async def test_failing_start_reports_the_reason(managed: TestClient) -> None:
    response = await managed.http.post("/services/flaky/start", headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert "smtp down" in body["error_message"]
    assert body["details"]["state"] == "error" and "smtp down" in body["details"]["error"]
    health = (await managed.http.get("/health")).json()
    assert health["checks"]["flaky"]["status"] == "RED"
    assert managed.app.container is not None
    flaky = managed.app.container.get("flaky")
    assert isinstance(flaky, Flaky)
    flaky.fail = False
    retried = await managed.http.post("/services/flaky/start", headers=AUTH)
    assert retried.status_code == 200 and retried.json() == {
        "name": "flaky",
        "state": "running",
        "error": None,
        "autostart": False,
        "config": {},
    }


async def test_unknown_service_operations_are_404(managed: TestClient) -> None:
    for op in ("start", "stop", "configure", "configure_and_start"):
        response = await managed.http.post(f"/services/nope/{op}", headers=AUTH)
        assert response.status_code == 404, op


def test_enabling_without_a_token_is_a_config_error() -> None:
    from plugwork import ConfigError, load_settings

    with pytest.raises(ConfigError, match="management_token"):
        load_settings(None, env_file=None, management_api=True)
