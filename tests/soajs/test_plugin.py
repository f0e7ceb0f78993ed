"""The SOAJS plugin on a fake maintenance API (the real gateway is in test_gateway_plugwork.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from soajs_data import envelope, inject, inject_header, registry_data
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conftest import uvicorn_thread
from plugwork import App, Context, DefinitionError, HealthStatus, Settings, action
from plugwork.soajs import RegistryError, RegistryManager, ServiceConnector
from plugwork.soajs.carrier import require_tenant
from plugwork.soajs.plugin import SoajsPlugin, SoajsSettings


class Empty(BaseModel):
    pass


@action(meta={"soajs": {"tenant": "required"}}, tags=["tenants"])
async def whoami(data: Empty, ctx: Context) -> dict[str, Any]:
    """Who calls."""
    return {"tenant": ctx.soajs.tenant.code, "first": ctx.soajs.urac.first_name}


@action(meta={"soajs": {"tenant": "required", "tenants": ["OTHER"]}})
async def other_only(data: Empty) -> dict[str, Any]:
    return {}


@action(middleware=[require_tenant("DBTN")])
async def dbtn_only(data: Empty, registry: RegistryManager) -> dict[str, Any]:
    return {"env": registry.registry.environment}


@action
async def anyone(data: Empty, ctx: Context) -> dict[str, Any]:
    return {"soajs": ctx.soajs is not None}


@action(meta={"soajs": {"tenant": "required"}})
async def route_to_billing(data: Empty, ctx: Context) -> dict[str, Any]:
    target = ServiceConnector(ctx).connect("billing", "2")
    return {"url": target.url("/invoices"), "headers": target.headers}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeGateway:
    """getRegistry, register and awarenessStat, as the controller answers them."""

    def __init__(self) -> None:
        self.registered: list[dict[str, Any]] = []
        self.registry_answer: tuple[int, bytes] = (200, envelope(registry_data()))
        self.port = free_port()

    async def get_registry(self, request: Request) -> Response:
        status, body = self.registry_answer
        return Response(body, status, media_type="application/json")

    async def register(self, request: Request) -> Response:
        self.registered.append(json.loads(await request.body()))
        return Response(envelope({"ok": True}), media_type="application/json")

    async def awareness(self, request: Request) -> Response:
        hosts = {b["version"]: [b["ip"]] for b in self.registered}
        services = {b["name"]: {"hosts": hosts} for b in self.registered}
        return Response(envelope({"services": services}), media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/getRegistry", self.get_registry),
                Route("/register", self.register, methods=["POST"]),
                Route("/awarenessStat", self.awareness),
            ]
        )


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    fake = FakeGateway()
    monkeypatch.setenv("SOAJS_REGISTRY_API", f"127.0.0.1:{fake.port}")
    monkeypatch.setenv("SOAJS_ENV", "dev")
    with uvicorn_thread(fake.app(), fake.port):
        yield fake


def make_app(port: int = 0) -> App:
    return App(
        "pwunit",
        actions=[whoami, other_only, dbtn_only, anyone, route_to_billing],
        settings=Settings(http_port=port or free_port(), queue_url="none"),
    )


async def post(app: App, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(f"/actions/{name}", json={}, headers=headers or {})


def test_disabled_without_soajs_registry_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOAJS_REGISTRY_API", raising=False)
    app = make_app()
    app.preflight()
    assert not any(isinstance(p, SoajsPlugin) for p in app.active_plugins)


def test_settings_from_the_soajs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SOAJS_REGISTRY_API": "gw:5000",
        "SOAJS_ENV": "stg",
        "SOAJS_DEPLOY_MANUAL": "true",
        "SOAJS_SRVIP": "10.1.1.1",
        "PLUGWORK_SOAJS_SERVICE_VERSION": "2.1",
        "PLUGWORK_SOAJS_GROUP": "shop",
        "PLUGWORK_SOAJS_PORT": "4444",
        "PLUGWORK_SOAJS_REGISTER_CHECK_SECONDS": "2",
        "PLUGWORK_SOAJS_REQUIRE_CONTEXT": "true",
        "SOAJS_MAX_INJECT_HEADER_SIZE": "4096",
    }.items():
        monkeypatch.setenv(name, value)
    config = SoajsSettings()
    assert (config.registry_api, config.env, config.deploy_manual, config.ip) == (
        "gw:5000",
        "stg",
        True,
        "10.1.1.1",
    )
    assert (config.service_version, config.group, config.port) == ("2.1", "shop", 4444)
    assert (config.register_check_seconds, config.require_context, config.max_header_size) == (2, True, 4096)
    monkeypatch.delenv("PLUGWORK_SOAJS_SERVICE_VERSION")
    monkeypatch.setenv("SOAJS_SERVICE_VERSION", "3")  # the `soajs_service_version` setting's own name
    assert SoajsSettings().service_version == "3"
    monkeypatch.setenv("PLUGWORK_SOAJS_SERVICE_VERSION", "v2")
    with pytest.raises(ValueError, match="service_version"):
        SoajsSettings()


async def test_ctx_soajs_and_tenant_rules_over_http(gateway: FakeGateway) -> None:
    app = make_app()
    async with app:
        header = {"soajsinjectobj": inject_header().decode()}
        mine = await post(app, "whoami", header)
        assert mine.json() == {"tenant": "DBTN", "first": "Jörg Maria"}
        assert (await post(app, "dbtn_only", header)).json() == {"env": "dev"}
        refused = await post(app, "other_only", header)
        assert refused.status_code == 403 and refused.json()["error_code"] == "FORBIDDEN"
        anonymous = await post(app, "whoami")
        assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHORIZED"
        assert (await post(app, "dbtn_only")).status_code == 401
        assert (await post(app, "anyone")).json() == {"soajs": False}
        # The connector from an action: the gateway route, the key, the caller's credentials forwarded.
        routed = await post(app, "route_to_billing", {**header, "Authorization": "Bearer u1"})
        assert routed.json() == {
            "url": "http://127.0.0.1:4000/billing/v2/invoices",
            "headers": {"key": "ext-key-secret", "authorization": "Bearer u1"},
        }
        # A header over 8 KiB (which the transport's carriers never see) still reaches ctx.soajs.
        big = {"soajsinjectobj": json.dumps(inject(padding="p" * 20000))}
        assert (await post(app, "whoami", big)).json()["tenant"] == "DBTN"
        # Malformed: a clear 400 from the middleware, a wrong type a 400 from the carrier.
        assert (await post(app, "anyone", {"soajsinjectobj": "{x"})).status_code == 400
        typed = await post(app, "anyone", {"soajsinjectobj": json.dumps(inject(urac={"_id": 5}))})
        assert typed.status_code == 400 and "urac._id" in typed.json()["error_message"]
        # Plugwork's own routes keep working, the heartbeat too.
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/heartbeat")).json() == {"result": True}
            openapi = (await client.get("/openapi.json")).json()
            assert "/heartbeat" in openapi["paths"]
            health = (await client.get("/health")).json()
            assert health["checks"]["soajs_registry"]["status"] == "GREEN"


async def test_calls_within_the_app_carry_the_context(gateway: FakeGateway) -> None:
    app = make_app()
    async with app:
        context = Context(soajs=None)
        outcome = await app.invoke("whoami", {}, context=context)
        assert outcome.error is not None and outcome.error.code == "UNAUTHORIZED"
        from plugwork.soajs import parse_inject_header

        ok = await app.invoke("whoami", {}, context=Context(soajs=parse_inject_header(inject_header())))
        assert ok.output == {"tenant": "DBTN", "first": "Jörg Maria"}


async def test_failed_reload_turns_health_yellow(gateway: FakeGateway) -> None:
    app = make_app()
    async with app:
        registry = app.plugin(SoajsPlugin).registry
        assert registry is not None
        gateway.registry_answer = (200, envelope(result=False, errors=[{"code": 600, "message": "db down"}]))
        assert await registry.areload(force=True) is False
        report = await app.health.report()
        check = report.checks["soajs_registry"]
        assert check["status"] == "YELLOW" and "[600] db down" in check["details"]["error"]
        assert report.status is HealthStatus.YELLOW


async def test_first_load_failure_stops_the_start(gateway: FakeGateway) -> None:
    gateway.registry_answer = (200, envelope(result=False, errors=[{"code": 144, "message": "bad env"}]))
    app = make_app()
    with pytest.raises(RegistryError, match=r"getRegistry: the gateway answered \[144\] bad env"):
        await app.start()


async def test_manual_deployment_registers_with_mw_and_serves_the_heartbeat(
    gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOAJS_DEPLOY_MANUAL", "1")
    port = free_port()
    while _taken(port + 1000):
        port = free_port()
    app = make_app(port)
    async with app:
        [body] = gateway.registered
        assert body["mw"] is True and body["name"] == "pwunit" and body["port"] == port
        assert body["version"] == "1" and body["group"] == "plugwork" and body["ip"] == "127.0.0.1"
        assert body["maintenance"] == {"port": {"type": "maintenance"}, "readiness": "/heartbeat"}
        assert {"l": "Who calls.", "v": "/actions/whoami", "m": "post", "group": "tenants"} in body["apiList"]
        async with httpx.AsyncClient() as client:
            beat = await client.get(f"http://127.0.0.1:{port + 1000}/heartbeat")
        assert beat.status_code == 200 and beat.json()["service"]["service"] == "pwunit"
    assert _taken(port + 1000) is False  # the heartbeat server stopped with the app


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_bad_meta_is_a_definition_error(gateway: FakeGateway) -> None:
    @action(meta={"soajs": {"tenant": "sometimes"}})
    async def odd(data: Empty) -> None:
        return None

    app = App("odd", actions=[odd], settings=Settings(queue_url="none"))
    import asyncio

    with pytest.raises(DefinitionError, match="'required' or 'optional'"):
        asyncio.run(app.start())


def test_only_http_requests_through_the_middleware_get_a_soajs_context() -> None:
    from plugwork.soajs import check_inject_header
    from plugwork.soajs.carrier import SoajsCarrier
    from plugwork.soajs.context import current_pending

    carrier = SoajsCarrier()
    forged = {"soajsinjectobj": inject_header().decode(), "authorization": "Bearer x"}
    for transport in ("plugboard", "queue", "http"):
        ctx = Context(transport=transport)
        carrier.extract(forged, ctx)  # a header alone, not checked by the middleware: ignored
        assert ctx.soajs is None and ctx.extras == {}
    token = current_pending.set(check_inject_header(inject_header()))
    try:
        queued = Context(transport="queue")
        carrier.extract({}, queued)
        assert queued.soajs is None
        served = Context(transport="http")
        carrier.extract({"authorization": "Bearer x"}, served)
        assert served.soajs is not None and served.soajs.tenant.code == "DBTN"
        assert served.extras == {"soajs.caller_headers": {"authorization": "Bearer x"}}
    finally:
        current_pending.reset(token)
