"""The extension seam, from the outside: a plugin defined only in tests adds a setting, a service, a
middleware, a route, a background component and a context carrier, and they work on every transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from tenant_plugin import EVENTS, TenantDirectory, TenantPlugin

from plugwork import App, ConfigError, Context, DefinitionError, action
from plugwork.queue import JobQueue
from plugwork.testing import TestClient

RECORDED: list[dict[str, Any]] = []


class Empty(BaseModel):
    pass


@action
async def who(data: Empty, ctx: Context, directory: TenantDirectory) -> dict[str, Any]:
    return {"tenant": ctx.tenant, "label": directory.label(ctx.tenant), "correlation_id": ctx.correlation_id}


@action
async def handoff(data: Empty, app: App) -> dict[str, str]:
    return {"job_id": await app.enqueue("who_job", {})}


@action
async def who_job(data: Empty, ctx: Context) -> None:
    RECORDED.append({"tenant": ctx.tenant, "correlation_id": ctx.correlation_id, "transport": ctx.transport})


def make_app(**plugin_settings: Any) -> tuple[App, TenantPlugin]:
    plugin = TenantPlugin(**plugin_settings)
    return App("tenants", actions=[who, handoff, who_job], plugins=[plugin]), plugin


async def test_the_plugin_adds_a_route_a_service_a_middleware_and_a_component() -> None:
    EVENTS.clear()
    app, plugin = make_app(greeting="hi")
    async with TestClient(app) as client:
        response = await client.http.get("/tenant/hello")
        assert response.json()["greeting"] == "hi"
        out = await client.call("who")
        assert out["label"] == "tenant:None"
        assert plugin.seen == ["who"]
        assert plugin.ticker is not None
        assert "/tenant/hello" in (await client.http.get("/openapi.json")).json()["paths"]
    # the component stops before the services it may use
    assert EVENTS == ["service started", "component started", "component stopped", "service stopped"]


async def test_the_carrier_moves_the_tenant_from_http_into_the_job_and_the_worker() -> None:
    RECORDED.clear()
    app, _ = make_app()
    # The jobs API is off unless guarded or opened.
    async with TestClient(app, plugins={"queue": {"jobs_api": "open"}}) as client:
        headers = {"X-Tenant": "acme", "X-Correlation-ID": "req-42"}
        direct = await client.http.post("/actions/who", json={}, headers=headers)
        assert direct.json() == {"tenant": "acme", "label": "tenant:acme", "correlation_id": "req-42"}
        job_id = (await client.http.post("/actions/handoff", json={}, headers=headers)).json()["job_id"]
        job = await app.get(JobQueue).wait(job_id, timeout=10)
        assert job.status == "completed"
        assert job.correlation_id == "req-42"
        assert job.headers == {"x-correlation-id": "req-42", "x-tenant": "acme"}
        assert RECORDED == [{"tenant": "acme", "correlation_id": "req-42", "transport": "queue"}]
        # POST /jobs carries the request's context too
        posted = await client.http.post("/jobs", json={"action": "who_job"}, headers=headers)
        job = await app.get(JobQueue).wait(posted.json()["job_id"], timeout=10)
        assert job.headers == {"x-correlation-id": "req-42", "x-tenant": "acme"}


async def test_a_carrier_can_refuse_a_malformed_header() -> None:
    app, _ = make_app()
    async with TestClient(app) as client:
        response = await client.http.post("/actions/who", json={}, headers={"X-Tenant": "not ok!"})
        assert response.status_code == 400
        assert response.json()["error_code"] == "BAD_REQUEST"


async def test_plugin_settings_come_from_yaml_env_and_code(tmp_path: Path, monkeypatch: Any) -> None:
    config = tmp_path / "plugwork.yaml"
    config.write_text("plugins:\n  tenant:\n    greeting: from-yaml\n")
    app, plugin = make_app()
    async with TestClient(app, config_file=str(config)):
        assert plugin.config.greeting == "from-yaml"
    monkeypatch.setenv("PLUGWORK_GREETING", "from-env")
    async with TestClient(app, config_file=str(config)):
        assert plugin.config.greeting == "from-env"
    app, plugin = make_app(greeting="from-code")
    async with TestClient(app, config_file=str(config)):
        assert plugin.config.greeting == "from-code"


async def test_plugin_setting_errors_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "plugwork.yaml"
    config.write_text("plugins:\n  tenant:\n    required: maybe\n")
    app, _ = make_app()
    with pytest.raises(ConfigError) as info:
        await TestClient(app, config_file=str(config)).__aenter__()
    assert info.value.key == "plugins.tenant.required"
    config.write_text("plugins:\n  tenant:\n    colour: blue\n")
    with pytest.raises(ConfigError) as info:
        await TestClient(make_app()[0], config_file=str(config)).__aenter__()
    assert info.value.key == "plugins.tenant.colour"
    config.write_text("plugins:\n  nosuch: {}\n")
    with pytest.raises(ConfigError) as info:
        await TestClient(make_app()[0], config_file=str(config)).__aenter__()
    assert info.value.key == "plugins.nosuch"


async def test_an_app_starts_again_after_it_stopped() -> None:
    app, plugin = make_app()
    for _ in range(2):
        async with TestClient(app) as client:
            assert (await client.http.get("/tenant/hello")).status_code == 200
            assert (await client.call("who"))["label"] == "tenant:None"
    assert plugin.seen == ["who", "who"]


def test_two_plugins_cannot_share_a_name() -> None:
    app, _ = make_app()
    with pytest.raises(DefinitionError):
        app.add_plugin(TenantPlugin())


async def test_a_disabled_built_in_plugin_adds_nothing() -> None:
    async with TestClient(App("bare", actions=[who], plugins=[TenantPlugin()]), queue_url="none") as client:
        assert (await client.http.get("/jobs")).status_code == 404
        assert [p.name for p in client.app.active_plugins] == ["tenant"]


def test_plugin_settings_take_constructor_keywords() -> None:
    from tenant_plugin import TenantSettings

    assert TenantSettings(greeting="direct").greeting == "direct"


async def test_a_plugin_named_like_a_built_in_one_replaces_it() -> None:
    from plugwork.queue.plugin import QueuePlugin

    class MyQueue(QueuePlugin):
        pass

    mine = MyQueue()
    app = App("custom", actions=[who], plugins=[mine])
    assert [p for p in app.plugins if p.name == "queue"] == [mine]
    async with TestClient(app) as client:
        assert mine in client.app.active_plugins
