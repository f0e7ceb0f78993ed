"""Config validation (errors name the field), the registration body (mw: true), the heartbeat server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from soajs_data import envelope

from plugwork.soajs import Config, ConfigValidationError
from plugwork.soajs.registration import HeartbeatServer, Registrar
from plugwork.soajs.wire import RegistryApi


def valid(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "my-service",
        "group": "my-group",
        "port": 4100,
        "version": "1.0",
        "type": "service",
        "maintenance": {"port": {"type": "inherit"}, "readiness": "/heartbeat"},
    }
    fields.update(changes)
    return fields


def test_a_valid_config() -> None:
    config = Config(**valid())
    assert config.service_name == "my-service" and config.service_port == 4100
    assert config.maintenance.port.type == "inherit"
    config.validate_maintenance()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"name": "-bad name"}, "name"),
        ({"group": ""}, "group"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"version": "v1"}, "version"),
        ({"type": "cron"}, "type"),
        ({"maintenance": {"port": {"type": "elsewhere"}}}, "maintenance.port.type"),
        ({"maintenance": {"readiness": "heartbeat"}}, "maintenance.readiness"),
        ({"interConnect": [{"name": "ok", "version": "x"}]}, "interConnect.0.version"),
        ({"requestTimeout": -1}, "requestTimeout"),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        Config(**valid(**changes))
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_missing_fields_are_listed() -> None:
    with pytest.raises(ConfigValidationError) as info:
        Config(name="x")
    assert info.value.key == "group" and "port: Field required" in str(info.value)


def test_registration_body_sends_mw_true() -> None:
    body = Config(**valid(extKeyRequired=True, oauth=False)).registration("10.0.0.9")
    assert body["mw"] is True and "middleware" not in body
    assert body["ip"] == "10.0.0.9" and body["name"] == "my-service" and body["version"] == "1.0"
    assert body["maintenance"] == {"port": {"type": "inherit"}, "readiness": "/heartbeat"}
    assert body["extKeyRequired"] is True and body["port"] == 4100


def registrar(handler: Any) -> Registrar:
    api = RegistryApi("gw:5000", transport=httpx.MockTransport(handler))
    return Registrar(
        api, Config(**valid(version="2")), "10.0.0.9", [{"l": "x", "v": "/actions/x", "m": "post"}]
    )


async def test_registrar_registers_only_when_the_gateway_forgot_the_host() -> None:
    known = {"services": {"my-service": {"hosts": {"2": ["10.0.0.9"], "latest": "2"}}}}
    posted: list[httpx.Request] = []
    state = {"awareness": known}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/awarenessStat":
            return httpx.Response(200, content=envelope(state["awareness"]))
        posted.append(request)
        return httpx.Response(200, content=envelope({"ok": 1}))

    reg = registrar(handler)
    assert await reg.check() is True and posted == []
    state["awareness"] = {"services": {}}
    assert await reg.check() is True and len(posted) == 1
    import json

    body = json.loads(posted[0].content)
    assert body["mw"] is True and body["apiList"][0]["v"] == "/actions/x"
    assert reg.registered_at is not None


async def test_registrar_failure_is_reported_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=envelope(result=False, errors=[{"code": 171, "message": "no"}]))

    reg = registrar(handler)
    assert await reg.register() is False
    assert reg.last_error is not None and "[171] no" in reg.last_error
    assert await reg.check() is False


def test_is_known_tolerates_odd_answers() -> None:
    reg = registrar(lambda request: httpx.Response(500))
    for answer in [None, [], {"services": []}, {"services": {"my-service": {"hosts": []}}}]:
        assert reg.is_known(answer) is False


async def test_heartbeat_server() -> None:
    ready = {"value": True}
    server = HeartbeatServer("127.0.0.1", 0, lambda: ready["value"], {"service": "s"}, "/heartbeat")
    await server.start()
    assert server._server is not None
    port = server._server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as client:
            beat = await client.get(f"http://127.0.0.1:{port}/heartbeat")
            assert beat.status_code == 200 and beat.json()["result"] is True
            assert (await client.get(f"http://127.0.0.1:{port}/other")).status_code == 404
            assert (await client.post(f"http://127.0.0.1:{port}/heartbeat")).status_code == 404
            ready["value"] = False
            assert (await client.get(f"http://127.0.0.1:{port}/heartbeat")).status_code == 503
        # An endless header block is cut off at the size limit, without an answer and without harm.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /heartbeat HTTP/1.1\r\n" + b"X: " + b"a" * 20000)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await server.stop()
