"""ServiceConnector: the mesh rule (name, and version or latest), else the gateway with prefix and key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from soajs_data import inject, inject_header

from plugwork.soajs import ServiceConnector, SOAJSError, parse_inject_header


@pytest.fixture
def connector() -> ServiceConnector:
    context = parse_inject_header(inject_header())
    return ServiceConnector(context, {"Authorization": "Bearer t", "access_token": "a1", "Cookie": "c"})


def test_mesh_latest_when_no_version(connector: ServiceConnector) -> None:
    target = connector.connect("urac")
    assert target.mesh and target.host == "10.0.0.5:4001" and target.prefix == ""
    assert target.headers == {"soajsinjectobj": inject_header().decode()}  # forwarded exactly as received


def test_mesh_exact_version(connector: ServiceConnector) -> None:
    assert connector.connect("urac", "2").host == "10.0.0.6:4001"
    assert connector.connect("urac", "3").host == "10.0.0.5:4001"


def test_gateway_when_the_version_is_unknown(connector: ServiceConnector) -> None:
    target = connector.connect("urac", "9")
    assert not target.mesh and target.host == "127.0.0.1:4000" and target.prefix == "/urac/v9"


def test_gateway_when_no_entry_is_the_latest(connector: ServiceConnector) -> None:
    # "orders" is in the mesh at version 1 only, its latest being 2: no version asked -> the gateway.
    target = connector.connect("orders")
    assert not target.mesh and target.prefix == "/orders"
    assert connector.connect("orders", "1").mesh


def test_gateway_headers_carry_the_key_and_the_callers_credentials(connector: ServiceConnector) -> None:
    target = connector.connect("billing", "1")
    assert target.url("/invoices") == "http://127.0.0.1:4000/billing/v1/invoices"
    assert target.headers == {"key": "ext-key-secret", "authorization": "Bearer t", "access_token": "a1"}


def test_gateway_without_caller_credentials() -> None:
    target = ServiceConnector(parse_inject_header(inject_header())).connect("billing")
    assert target.headers == {"key": "ext-key-secret"}


def test_no_gateway_and_not_in_mesh_is_an_error() -> None:
    context = parse_inject_header(json.dumps(inject(awareness={})))
    with pytest.raises(SOAJSError, match="billing"):
        ServiceConnector(context).connect("billing")


async def test_call_helper_sends_to_the_target(connector: ServiceConnector) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await connector.call("billing", "/invoices", version="2", json={"a": 1}, client=client)
        await connector.call("urac", "/user", method="GET", client=client)
    assert response.json() == {"ok": True}
    assert str(seen[0].url) == "http://127.0.0.1:4000/billing/v2/invoices"
    assert seen[0].headers["key"] == "ext-key-secret" and json.loads(seen[0].content) == {"a": 1}
    assert str(seen[1].url) == "http://10.0.0.5:4001/user" and "soajsinjectobj" in seen[1].headers


def test_context_without_raw_is_serialised_for_the_mesh() -> None:
    from plugwork.soajs import ContextData

    context = ContextData.model_validate(inject())
    header: dict[str, Any] = json.loads(ServiceConnector(context).connect("urac").headers["soajsinjectobj"])
    assert header["tenant"]["code"] == "DBTN" and header["key"]["eKey"] == "ext-key-secret"
    assert "registry" not in header


def test_a_plugwork_context_without_soajs_is_refused() -> None:
    from plugwork import Context

    with pytest.raises(SOAJSError, match="did not come through a SOAJS gateway"):
        ServiceConnector(Context())
    context = Context(
        soajs=parse_inject_header(inject_header()), extras={"soajs.caller_headers": {"access_token": "t"}}
    )
    assert ServiceConnector(context).connect("billing").headers == {
        "key": "ext-key-secret",
        "access_token": "t",
    }
