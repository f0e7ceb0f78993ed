"""FastAPI with SOAJSMiddleware and Flask with SOAJSWSGIMiddleware, behind a real SOAJS gateway.

Each app registers itself (soajs-python's manual deployment, with ``mw: true``) and is called through the
gateway with the tenant's external key: the answer shows the tenant the gateway injected.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from flask import Flask, jsonify, request

from conftest import uvicorn_thread, wsgi_thread
from plugwork.soajs import (
    RegistryManager,
    ServiceConnector,
    SOAJSMiddleware,
    SOAJSWSGIMiddleware,
    get_soajs_context,
)
from support.soajs_gateway import SoajsGateway, free_port_pair

pytestmark = pytest.mark.node


def manager(gateway: SoajsGateway, name: str, port: int, monkeypatch: pytest.MonkeyPatch) -> RegistryManager:
    monkeypatch.setenv("SOAJS_DEPLOY_MANUAL", "1")
    return RegistryManager(
        name,
        "dev",
        registry_api=gateway.registry_api,
        service_port=port,
        service_group="plugwork-tests",
        service_version="1",
    )


def test_fastapi_app_behind_the_gateway(soajs_gateway: SoajsGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port_pair()
    registry = manager(soajs_gateway, "pwfastapi", port, monkeypatch)
    app = FastAPI()
    app.add_middleware(SOAJSMiddleware, registry=registry)

    @app.get("/heartbeat")
    async def heartbeat() -> dict[str, Any]:
        return {"result": True}

    @app.get("/hello")
    async def hello(request: Request) -> dict[str, Any]:
        context = get_soajs_context(request)
        assert context is not None
        gateway_route = ServiceConnector(context).connect("pwflask", "1")
        return {
            "tenant": context.tenant.code,
            "tenant_id": context.tenant.id,
            "package": context.application.package if context.application else None,
            "ext_key_matches": context.key.e_key == soajs_gateway.ext_key,
            "registry_env": context.registry.environment if context.registry else None,
            "custom": registry.get_custom("plugworkCustom")["value"],
            "connector": [gateway_route.host, gateway_route.prefix, gateway_route.mesh],
        }

    try:
        with uvicorn_thread(app, port):
            response = soajs_gateway.wait_routable("/pwfastapi/hello")
            assert response.status_code == 200, response.text
            body = response.json()
            provision = soajs_gateway.provision
            assert body["tenant"] == provision.tenant_code
            assert body["tenant_id"] == provision.tenant_id
            assert body["package"] == provision.package
            assert body["ext_key_matches"] is True
            assert body["registry_env"] == "dev"
            assert body["custom"] == {"answer": 42}
            assert body["connector"] == ["127.0.0.1:4000", "/pwflask/v1", False]
            # Directly, without the gateway: no header, no context (not required by default).
            direct = httpx.get(f"http://127.0.0.1:{port}/heartbeat")
            assert direct.status_code == 200
            bad = httpx.get(f"http://127.0.0.1:{port}/hello", headers={"soajsinjectobj": "{nope"})
            assert bad.status_code == 400 and "not valid JSON" in bad.json()["error_message"]
    finally:
        registry.stop()


def test_flask_app_behind_the_gateway(soajs_gateway: SoajsGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port_pair()
    registry = manager(soajs_gateway, "pwflask", port, monkeypatch)
    app = Flask("pwflask")
    app.wsgi_app = SOAJSWSGIMiddleware(app.wsgi_app, registry, required=True, exempt_paths={"/heartbeat"})  # type: ignore[method-assign]

    @app.get("/heartbeat")
    def heartbeat() -> Any:
        return jsonify(result=True)

    @app.get("/hello")
    def hello() -> Any:
        context = get_soajs_context(request)
        legacy = request.environ.get("soajs.context")  # soajs-python's way still reads the same context
        assert context is not None
        return jsonify(tenant=context.tenant.code, legacy=legacy.tenant.code, name=context.tenant.name)

    try:
        with wsgi_thread(app, port):
            response = soajs_gateway.wait_routable("/pwflask/hello")
            assert response.status_code == 200, response.text
            provision = soajs_gateway.provision
            assert response.json() == {
                "tenant": provision.tenant_code,
                "legacy": provision.tenant_code,
                "name": provision.tenant_name,
            }
            # Required: a direct call without the gateway's header is refused.
            direct = httpx.get(f"http://127.0.0.1:{port}/hello")
            assert direct.status_code == 401
            assert direct.json()["error_code"] == "UNAUTHORIZED"
    finally:
        registry.stop()
