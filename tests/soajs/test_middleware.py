"""SOAJSMiddleware (ASGI) and SOAJSWSGIMiddleware: one core, same answers; get_soajs_context everywhere."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from flask import Flask, jsonify, request
from soajs_data import inject, inject_header
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.test import Client

from plugwork import Context
from plugwork.soajs import (
    ContextData,
    InjectHeaderError,
    SOAJSMiddleware,
    SOAJSWSGIMiddleware,
    check_inject_header,
    get_soajs_context,
    parse_inject_header,
)
from plugwork.soajs.context import current_pending, max_header_size


def starlette_app(**options: Any) -> Any:
    async def hello(request: Request) -> JSONResponse:
        context = get_soajs_context(request)
        pending = current_pending.get()
        return JSONResponse(
            {
                "tenant": context.tenant.code if context else None,
                "scope": get_soajs_context(request.scope) is context,
                "contextvar": pending is not None,
            }
        )

    app = Starlette(routes=[Route("/hello", hello), Route("/health", hello)])
    return SOAJSMiddleware(app, None, **options)


async def get(app: Any, path: str = "/hello", headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers or {})


async def test_asgi_attaches_the_context() -> None:
    response = await get(starlette_app(), headers={"soajsinjectobj": inject_header().decode()})
    assert response.json() == {"tenant": "DBTN", "scope": True, "contextvar": True}
    assert current_pending.get() is None  # reset after the request


async def test_asgi_without_header_passes_with_no_context() -> None:
    response = await get(starlette_app())
    assert response.json() == {"tenant": None, "scope": True, "contextvar": False}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"key": {}}', "tenant: an object is required"),
        ('{"tenant": {"id": 5, "code": "X"}}', "tenant.id: a string is required"),
    ],
)
async def test_asgi_malformed_header_is_a_400(header: str, message: str) -> None:
    response = await get(starlette_app(), headers={"soajsinjectobj": header})
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "BAD_REQUEST",
        "error_message": f"Malformed soajsinjectobj header: {message}",
        "details": None,
    }


async def test_asgi_oversize_header_is_a_400() -> None:
    header = json.dumps(inject(padding="x" * 200))
    response = await get(starlette_app(max_header_size=100), headers={"soajsinjectobj": header})
    assert response.status_code == 400
    assert response.json()["error_message"] == "The soajsinjectobj header exceeds 100 bytes"
    assert "ext-key-secret" not in response.text


async def test_asgi_type_error_is_a_400_when_eager() -> None:
    header = json.dumps(inject(awareness={"host": "h", "port": "not a port"}))
    response = await get(starlette_app(eager=True), headers={"soajsinjectobj": header})
    assert response.status_code == 400
    assert "awareness.port" in response.json()["error_message"]
    pending = check_inject_header(header)  # lazy: found when the context is first read
    with pytest.raises(InjectHeaderError, match=r"awareness\.port"):
        pending.resolve()


async def test_asgi_required_refuses_without_header_but_not_exempt_paths() -> None:
    app = starlette_app(required=True, exempt_paths={"/health"})
    refused = await get(app)
    assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHORIZED"
    assert (await get(app, "/health")).status_code == 200


async def test_asgi_passes_other_scopes() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await SOAJSMiddleware(inner, required=True)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]


async def test_fastapi_add_middleware() -> None:
    app = FastAPI()
    app.add_middleware(SOAJSMiddleware, registry=None)

    @app.get("/t")
    async def tenant(request: Request) -> dict[str, Any]:
        context = get_soajs_context(request)
        assert isinstance(context, ContextData)
        return {"tenant": context.tenant.code, "first": context.urac.first_name if context.urac else None}

    response = await get(app, "/t", {"soajsinjectobj": inject_header().decode()})
    assert response.json() == {"tenant": "DBTN", "first": "Jörg Maria"}


def flask_app(**options: Any) -> Flask:
    app = Flask("t")
    app.wsgi_app = SOAJSWSGIMiddleware(app.wsgi_app, None, **options)  # type: ignore[method-assign]

    @app.get("/hello")
    def hello() -> Any:
        context = get_soajs_context(request)
        legacy = request.environ.get("soajs.context")
        return jsonify(
            tenant=context.tenant.code if context else None,
            legacy=legacy.tenant.code if legacy is not None else None,
            environ=get_soajs_context(request.environ) is context,
        )

    return app


def test_wsgi_attaches_the_context() -> None:
    client = Client(flask_app())
    response = client.get("/hello", headers={"soajsinjectobj": inject_header().decode()})
    assert response.json == {"tenant": "DBTN", "legacy": "DBTN", "environ": True}


def test_wsgi_without_header_and_required() -> None:
    assert Client(flask_app()).get("/hello").json == {"tenant": None, "legacy": None, "environ": True}
    refused = Client(flask_app(required=True)).get("/hello")
    assert refused.status_code == 401 and refused.json["error_code"] == "UNAUTHORIZED"


def test_wsgi_malformed_and_oversize_headers_are_400() -> None:
    client = Client(flask_app(max_header_size=50))
    bad = client.get("/hello", headers={"soajsinjectobj": "{oops"})
    assert bad.status_code == 400 and bad.json["error_message"].endswith("not valid JSON")
    big = client.get("/hello", headers={"soajsinjectobj": inject_header().decode()})
    assert big.status_code == 400 and "exceeds 50 bytes" in big.json["error_message"]


def test_get_soajs_context_from_django_and_plugwork_and_others() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.test import RequestFactory

    context = parse_inject_header(inject_header())
    django_request = RequestFactory().get("/")
    assert get_soajs_context(django_request) is None
    django_request.META["soajs.context"] = check_inject_header(inject_header())
    found = get_soajs_context(django_request)
    assert found is not None and found.tenant.code == "DBTN"
    assert get_soajs_context(Context(soajs=context)) is context
    assert get_soajs_context(Context()) is None
    assert get_soajs_context(object()) is None
    assert get_soajs_context({"type": "http"}) is None


def test_max_header_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_header_size() == 65536
    monkeypatch.setenv("SOAJS_MAX_INJECT_HEADER_SIZE", "1024")
    assert max_header_size() == 1024
    monkeypatch.setenv("SOAJS_MAX_INJECT_HEADER_SIZE", "nonsense")
    assert max_header_size() == 65536
