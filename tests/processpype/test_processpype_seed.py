"""The Processpype seed's samples with only their imports changed, and service routes while the service
runs, while it is stopped, and next to the management API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from seed_service import BasicService, MyService, MyServiceConfig
from starlette.responses import JSONResponse
from starlette.routing import Route

from core_helpers import OFFLINE
from plugwork import App as Application
from plugwork import ConfigError, Service, ServiceError, ServiceState

CONFIG = """
services:
  my_service:
    enabled: true
    custom_field: "value"
    port: 8080
"""


async def test_application_create_and_start(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    app = await Application.create(str(path))
    app.configure(**OFFLINE)
    service = app.register_service(MyService)
    await app.start()
    try:
        assert service.state is ServiceState.RUNNING
        # configure() is annotated with MyServiceConfig: the section is validated into it
        assert isinstance(service._config, MyServiceConfig)
        assert (service._config.custom_field, service._config.port) == ("value", 8080)
    finally:
        await app.stop()
    assert service.state is ServiceState.STOPPED


async def test_a_bad_section_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("services:\n  my_service:\n    port: not-a-port\n")
    app = await Application.create(str(path))
    app.configure(**OFFLINE)
    app.register_service(MyService)
    with pytest.raises(ConfigError) as info:
        await app.start()
    assert info.value.key in ("services.my_service.custom_field", "services.my_service.port")


async def test_my_service() -> None:
    service = BasicService()
    await service.start()
    assert service.state == ServiceState.RUNNING
    await service.stop()
    assert service.state == ServiceState.STOPPED


async def test_my_service_api() -> None:
    app = await Application.create()
    service = app.register_service(MyService)
    client = TestClient(app.api)

    response = client.get("/services/my_service/status")
    assert response.status_code == 200
    assert service.name == "my_service"


async def test_error_handling_sample() -> None:
    class Failing(MyService):
        async def start(self) -> None:
            try:
                self.set_state(ServiceState.STARTING)
                raise RuntimeError("port in use")
            except Exception as e:
                self.set_error(str(e))
                self.set_state(ServiceState.ERROR)
                raise

    app = await Application.create()
    app.configure(services={"failing": {"custom_field": "x"}}, **OFFLINE)
    service = app.register_service(Failing("failing"))
    with pytest.raises(ServiceError, match="port in use"):
        await app.start()
    # The container stops a service that failed to start (it may hold part of its resources); the
    # reason stays on the service and in /health.
    assert "port in use" in (service.error or "")


class Plain(Service):
    """Relative Starlette routes are mounted under /services/{name}."""

    name = "plain"

    def __init__(self) -> None:
        super().__init__()
        self.router = [Route("/ping", self.ping)]

    async def ping(self, request: object) -> JSONResponse:
        return JSONResponse({"pong": self.state.value})


async def test_service_routes_while_running_and_stopped() -> None:
    app = Application("pp", services=[MyService(), Plain()]).configure(
        management_api=True,
        management_token="test-token",
        services={"my_service": {"custom_field": "x"}},
        **OFFLINE,
    )
    transport = httpx.ASGITransport(app=app.asgi)
    auth = {"Authorization": "Bearer test-token"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as client:
        await app.start()
        try:
            assert (await client.get("/services/my_service/status")).json() == {"state": "running"}
            assert (await client.get("/services/plain/ping")).json() == {"pong": "running"}
            missing = await client.get("/services/plain/nope")
            assert missing.status_code == 404
            stopped = await client.post("/services/plain/stop")  # the management API still answers
            assert stopped.status_code == 200, stopped.text
            refused = await client.get("/services/plain/ping")
            assert refused.status_code == 503 and refused.json()["error_code"] == "UNAVAILABLE"
            assert refused.json()["details"] == {"state": "stopped"}
            assert (await client.get("/services/my_service/status")).status_code == 200
            await client.post("/services/plain/start")
            assert (await client.get("/services/plain/ping")).status_code == 200
        finally:
            await app.stop()
        assert (await client.get("/services/my_service/status")).status_code == 503
        async with app:  # started again: the routes follow the new start
            assert (await client.get("/services/plain/ping")).json() == {"pong": "running"}
