"""A Plugwork app behind a real SOAJS gateway, enabled by environment variables alone.

The app registers itself (``mw: true``, its actions as the ``apiList``), answers the gateway's heartbeat on
its maintenance port, and its actions, called through the gateway with the tenant's external key, see the
tenant in ``ctx.soajs``. When the gateway restarts, the app registers again and is routed again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from conftest import uvicorn_thread
from plugwork import App, Context, Settings, action
from plugwork.soajs import RegistryManager
from plugwork.soajs.plugin import SoajsPlugin
from support.soajs_gateway import MAINTENANCE_INC, SoajsGateway, free_port_pair

pytestmark = pytest.mark.node


class Empty(BaseModel):
    pass


class Greeting(BaseModel):
    name: str = "world"


@action(meta={"soajs": {"tenant": "required"}})
async def whoami(data: Empty, ctx: Context, registry: RegistryManager) -> dict[str, Any]:
    """Who is calling, as the gateway says."""
    soajs = ctx.soajs
    return {
        "tenant": soajs.tenant.code,
        "tenant_name": soajs.tenant.name,
        "package": soajs.application.package,
        "config": soajs.key.config,
        "registry_env": soajs.registry.environment,
        "custom": registry.get_custom("plugworkCustom")["value"],
    }


@action
async def greet(data: Greeting, ctx: Context) -> dict[str, Any]:
    """Greets, with or without a tenant."""
    tenant = ctx.soajs.tenant.code if ctx.soajs is not None else None
    return {"message": f"Hello, {data.name}!", "tenant": tenant}


@action(meta={"soajs": {"tenant": "required", "tenants": ["SOMEONE_ELSE"]}})
async def vip(data: Empty) -> dict[str, Any]:
    """Only for another tenant."""
    return {"ok": True}


def soajs_env(monkeypatch: pytest.MonkeyPatch, gateway: SoajsGateway) -> None:
    monkeypatch.setenv("SOAJS_REGISTRY_API", gateway.registry_api)
    monkeypatch.setenv("SOAJS_ENV", "dev")
    monkeypatch.setenv("SOAJS_DEPLOY_MANUAL", "1")
    monkeypatch.setenv("PLUGWORK_SOAJS_REGISTER_CHECK_SECONDS", "1")


def call(gateway: SoajsGateway, service: str, name: str, body: dict[str, Any]) -> httpx.Response:
    url = f"{gateway.url}/{service}/actions/{name}"
    return httpx.post(url, json=body, headers={"key": gateway.ext_key}, timeout=10)


def test_plugwork_app_behind_the_gateway(
    soajs_gateway: SoajsGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    soajs_env(monkeypatch, soajs_gateway)
    port = free_port_pair()
    app = App("pwgreeter", actions=[whoami, greet, vip], settings=Settings(http_port=port, queue_url="none"))
    with uvicorn_thread(app.asgi, port):
        soajs_gateway.wait_routable("/pwgreeter/heartbeat")
        response = call(soajs_gateway, "pwgreeter", "whoami", {})
        assert response.status_code == 200, response.text
        provision = soajs_gateway.provision
        assert response.json() == {
            "tenant": provision.tenant_code,
            "tenant_name": provision.tenant_name,
            "package": provision.package,
            "config": {},
            "registry_env": "dev",
            "custom": {"answer": 42},
        }
        greeted = call(soajs_gateway, "pwgreeter", "greet", {"name": "SOAJS"})
        assert greeted.json() == {"message": "Hello, SOAJS!", "tenant": provision.tenant_code}
        refused = call(soajs_gateway, "pwgreeter", "vip", {})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == "FORBIDDEN"

        # Directly, without the gateway: no tenant, so the tenant-only action answers 401.
        direct = httpx.post(f"http://127.0.0.1:{port}/actions/whoami", json={})
        assert direct.status_code == 401 and direct.json()["error_code"] == "UNAUTHORIZED"
        anonymous = httpx.post(f"http://127.0.0.1:{port}/actions/greet", json={})
        assert anonymous.json() == {"message": "Hello, world!", "tenant": None}

        # The heartbeat on the maintenance port, and the registry in /health.
        beat = httpx.get(f"http://127.0.0.1:{port + MAINTENANCE_INC}/heartbeat")
        assert beat.status_code == 200 and beat.json()["result"] is True
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["checks"]["soajs_registry"]["status"] == "GREEN"

        # The gateway wrote the marketplace entry (mw: true) with the actions as its apiList.
        registry = httpx.get(f"http://{soajs_gateway.registry_api}/awarenessStat").json()
        assert "127.0.0.1" in registry["data"]["services"]["pwgreeter"]["hosts"]["1"]


def test_reregisters_when_the_gateway_restarts(
    soajs_gateway: SoajsGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    soajs_env(monkeypatch, soajs_gateway)
    port = free_port_pair()
    app = App("pwrestart", actions=[greet], settings=Settings(http_port=port, queue_url="none"))
    with uvicorn_thread(app.asgi, port):
        soajs_gateway.wait_routable("/pwrestart/heartbeat")
        registrar = app.plugin(SoajsPlugin).registrar
        assert registrar is not None and registrar.registered_at is not None
        first = registrar.registered_at
        soajs_gateway.restart(forget_hosts=True)
        # The new gateway does not list this host: the app notices (it polls every second) and registers.
        deadline = time.monotonic() + 30
        while registrar.registered_at == first:
            assert time.monotonic() < deadline, f"no new registration\n{soajs_gateway.tail()}"
            time.sleep(0.2)
        response = soajs_gateway.wait_routable("/pwrestart/heartbeat", timeout=30)
        assert response.status_code == 200
        greeted = call(soajs_gateway, "pwrestart", "greet", {"name": "again"})
        assert greeted.json() == {"message": "Hello, again!", "tenant": soajs_gateway.provision.tenant_code}


def test_the_greeter_example_unchanged_behind_the_gateway(
    soajs_gateway: SoajsGateway, tmp_path: Path
) -> None:
    """`plugwork run` on examples/greeter with only the SOAJS variables (and a free port) set."""
    port = free_port_pair()
    example = Path(__file__).resolve().parents[2] / "examples" / "greeter"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PLUGWORK_", "SOAJS_")) and key not in ("HTTP_PORT", "HTTP_HOST")
    }
    env.update(
        SOAJS_REGISTRY_API=soajs_gateway.registry_api,
        SOAJS_ENV="dev",
        SOAJS_DEPLOY_MANUAL="true",
        HTTP_PORT=str(port),
        PYTHONPATH=str(example),
    )
    plugwork = str(Path(sys.executable).parent / "plugwork")
    command = [plugwork, "run", "app:app", "--config", str(example / "plugwork.yaml")]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        soajs_gateway.wait_routable("/greeter/heartbeat", timeout=60)
        response = call(soajs_gateway, "greeter", "greet", {"name": "SOAJS"})
        assert response.status_code == 200, response.text
        assert response.json() == {"message": "Hello, SOAJS!"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
