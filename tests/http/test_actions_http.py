"""``POST /actions/{name}`` and the catalog: every status of the error taxonomy, correlation ids, limits."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from http_app import MAX_BODY, make_app

from core_helpers import OFFLINE, LogCapture
from plugwork.testing import TestClient

HEX32 = re.compile(r"^[0-9a-f]{32}$")
ERROR_KEYS = {"error_code", "error_message", "details"}


async def test_success(client: TestClient) -> None:
    response = await client.http.post("/actions/greet", json={"name": "Ada"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello, Ada!"}


JSON = {"content-type": "application/json"}


async def test_empty_body_means_an_empty_object(client: TestClient) -> None:
    response = await client.http.post("/actions/defaults")
    assert response.status_code == 200 and response.json() == {"verbose": False}


async def test_unknown_action_is_404(client: TestClient) -> None:
    response = await client.http.post("/actions/nope", json={})
    assert response.status_code == 404
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error_code"] == "UNKNOWN_ACTION" and "nope" in body["error_message"]


async def test_invalid_input_is_422_with_field_errors(client: TestClient) -> None:
    response = await client.http.post("/actions/greet", json={"name": ""})
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert body["details"] == [
        {"field": "name", "message": "String should have at least 1 character", "type": "string_too_short"}
    ]
    missing = await client.http.post("/actions/greet", json={})
    assert missing.json()["details"][0]["field"] == "name"
    assert missing.json()["details"][0]["type"] == "missing"


async def test_wrong_json_type_is_422(client: TestClient) -> None:
    response = await client.http.post("/actions/greet", json=["not", "an", "object"])
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_malformed_json_is_400(client: TestClient) -> None:
    response = await client.http.post(
        "/actions/greet", content=b'{"name": "Ada"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "BAD_REQUEST" and body["error_message"].startswith("Malformed JSON")


async def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = {"name": "x" * (MAX_BODY + 1)}
    response = await client.http.post("/actions/greet", json=big)
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BODY) in response.json()["error_message"]
    assert HEX32.match(response.headers["x-correlation-id"])


async def test_chunked_body_without_content_length_over_the_limit_is_413(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(8):
            yield b"y" * (MAX_BODY // 4)
        yield b'"}'

    response = await client.http.post("/actions/greet", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


async def test_chunked_body_under_the_limit_is_read_whole(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"na', b'me": "Ch', b'unked"}'):
            yield part

    response = await client.http.post("/actions/greet", content=chunks(), headers=JSON)
    assert response.status_code == 200 and response.json() == {"message": "Hello, Chunked!"}


async def test_raw_asgi_chunks_without_content_length() -> None:
    """Drive the ASGI callable directly: no content-length header at all, the body in many messages."""
    async with TestClient(make_app(), max_body_bytes=MAX_BODY, **OFFLINE) as c:
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": b"a" * 300, "more_body": True} for _ in range(10)]
        messages.append({"type": "http.request", "body": b"", "more_body": False})

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/actions/greet", "headers": []}
        await c.app.asgi(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(messages) > 0  # stopped reading as soon as the limit was passed


async def test_declared_content_length_over_the_limit_is_refused_before_reading() -> None:
    async with TestClient(make_app(), max_body_bytes=MAX_BODY, **OFFLINE) as c:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            raise AssertionError("the body must not be read")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"content-length", str(MAX_BODY + 1).encode()), (b"x-correlation-id", b"big-1")]
        scope = {"type": "http", "method": "POST", "path": "/actions/greet", "headers": headers}
        await c.app.asgi(scope, receive, send)
    assert sent[0]["status"] == 413
    assert (b"x-correlation-id", b"big-1") in sent[0]["headers"]


async def test_timeout_is_504(client: TestClient) -> None:
    async with asyncio.timeout(10):  # fail fast should the timeout not fire
        response = await client.http.post("/actions/slow", json={})
    assert response.status_code == 504
    assert response.json()["error_code"] == "TIMEOUT"


async def test_internal_error_is_500_without_traceback(client: TestClient) -> None:
    with LogCapture() as logs:
        response = await client.http.post(
            "/actions/crash", json={}, headers={"X-Correlation-ID": "crash-corr"}
        )
    assert response.status_code == 500
    assert response.json() == {
        "error_code": "INTERNAL",
        "error_message": "Internal server error",
        "details": None,
    }
    for leak in ("hunter2", "secret.py", "Traceback", "ValueError"):
        assert leak not in response.text
    (line,) = logs.events("action failed")
    assert line["correlation_id"] == "crash-corr" and "hunter2" in line["error"]


async def test_action_error_maps_to_its_status(client: TestClient) -> None:
    response = await client.http.post("/actions/forbidden", json={})
    assert response.status_code == 403
    assert response.json() == {
        "error_code": "FORBIDDEN",
        "error_message": "not for you",
        "details": {"role": "guest"},
    }


async def test_class_style_response_status(client: TestClient) -> None:
    created = await client.http.post("/actions/create", json={"title": "new"})
    assert created.status_code == 201 and created.json() == {"id": 7, "title": "new"}
    taken = await client.http.post("/actions/create", json={"title": "taken"})
    assert taken.status_code == 409
    assert taken.json() == {
        "error_code": "CONFLICT",
        "error_message": "already exists",
        "details": {"title": "taken"},
    }


async def test_correlation_id_taken_from_the_header(client: TestClient) -> None:
    response = await client.http.post("/actions/echo", json={}, headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.json() == {"correlation_id": "abc-123", "transport": "http"}


async def test_correlation_id_generated_otherwise(client: TestClient) -> None:
    first = await client.http.post("/actions/echo", json={})
    second = await client.http.post("/actions/echo", json={})
    ids = [r.headers["x-correlation-id"] for r in (first, second)]
    assert all(HEX32.match(i) for i in ids) and ids[0] != ids[1]
    assert first.json()["correlation_id"] == ids[0]
    # Errors carry one too.
    error = await client.http.post("/actions/nope", json={}, headers={"X-Correlation-ID": "err-1"})
    assert error.headers["x-correlation-id"] == "err-1"


async def test_correlation_id_in_every_log_line_of_the_invocation(client: TestClient) -> None:
    with LogCapture() as logs:
        await client.http.post("/actions/greet", json={"name": "Ada"}, headers={"X-Correlation-ID": "c-1"})
        await client.http.post("/actions/greet", json={"name": "Bob"})
    lines = logs.events("greeting")
    assert [line["who"] for line in lines] == ["Ada", "Bob"]
    assert lines[0]["correlation_id"] == "c-1"
    assert HEX32.match(lines[1]["correlation_id"])
    assert all(line["action"] == "greet" for line in lines)


async def test_not_started_app_answers_503() -> None:
    transport = httpx.ASGITransport(app=make_app().asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/actions/greet", json={"name": "x"})
    assert response.status_code == 503 and response.json()["error_code"] == "UNAVAILABLE"


async def test_unknown_routes_are_json_404(client: TestClient) -> None:
    response = await client.http.get("/no/such/route")
    assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"
    nested = await client.http.post("/actions/greet/extra", json={})
    assert nested.status_code in (404, 405)
    assert set(nested.json()) == ERROR_KEYS


# --------------------------------------------------------------------------------------------- catalog


async def test_catalog(client: TestClient) -> None:
    response = await client.http.get("/actions")
    assert response.status_code == 200
    catalog = response.json()
    assert [entry["name"] for entry in catalog] == sorted(
        ["greet", "defaults", "slow", "crash", "forbidden", "echo", "create"]
    )
    greet = next(entry for entry in catalog if entry["name"] == "greet")
    assert greet["description"] == "Say hello\n\nLonger text."
    assert greet["version"] == "1"
    assert greet["input_schema"]["properties"]["name"]["maxLength"] == 100
    assert greet["output_schema"]["properties"]["message"]["type"] == "string"
    create = next(entry for entry in catalog if entry["name"] == "create")
    assert create["description"] == "Create something (class style)."
    assert create["input_schema"]["required"] == ["title"]


async def test_describe_one_action(client: TestClient) -> None:
    response = await client.http.get("/actions/greet")
    assert response.status_code == 200
    assert response.json() == client.app.actions["greet"].describe()
    missing = await client.http.get("/actions/nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "UNKNOWN_ACTION"


@pytest.mark.parametrize("path", ["/actions", "/actions/greet"])
async def test_catalog_is_get_only(client: TestClient, path: str) -> None:
    response = await client.http.delete(path)
    assert response.status_code == 405


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
async def test_a_body_that_is_not_json_is_refused_with_415(client: TestClient, content_type: str) -> None:
    response = await client.http.post(
        "/actions/greet", content=b'{"name": "Ada"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_body_without_a_content_type_is_refused(client: TestClient) -> None:
    response = await client.http.post("/actions/greet", content=b'{"name": "Ada"}')
    assert response.status_code == 415


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.api+json"])
async def test_json_media_types_are_accepted(client: TestClient, content_type: str) -> None:
    response = await client.http.post(
        "/actions/greet", content=b'{"name": "Ada"}', headers={"content-type": content_type}
    )
    assert response.status_code == 200
