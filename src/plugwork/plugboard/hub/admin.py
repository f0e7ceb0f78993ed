"""The admin HTTP API under ``/admin``, guarded by ``Authorization: Bearer <admin token>``.

::

    GET    /admin/accounts                 POST /admin/accounts {"name"}         DELETE /admin/accounts/{id}
    GET    /admin/services                 POST /admin/services {"name"}         DELETE /admin/services/{id}
    PATCH  /admin/services/{id} {"name"}
    GET    /admin/tokens[?service_id=]     POST /admin/tokens {"service_id", "validity_days"?}
    DELETE /admin/tokens/{id}

Created accounts and tokens carry their secret (``token`` / ``value``) in the 201 body, the only time it is
shown. Without a configured admin token the API answers 403 to everything.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...errors import NotFound
from .store import HubStore

MAX_ADMIN_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ADMIN_BODY:
            raise _BadRequest(f"the body is over {MAX_ADMIN_BODY} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest(f"{key} must be a non-empty string")
    return value


def _guard(admin_token: str | None, handler: Callable[[Request, HubStore], Awaitable[Response]]) -> Handler:
    expected = f"Bearer {admin_token}".encode() if admin_token else None

    async def endpoint(request: Request) -> Response:
        if expected is None:
            return _problem(403, "the admin API is disabled: start the hub with --admin-token")
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _problem(401, "admin token required: Authorization: Bearer <admin token>")
        try:
            return await handler(request, request.app.state.hub.store)
        except _BadRequest as exc:
            return _problem(400, str(exc))
        except ValueError as exc:
            return _problem(400, str(exc))
        except NotFound as exc:
            return _problem(404, str(exc))

    return endpoint


async def _accounts(request: Request, store: HubStore) -> Response:
    if request.method == "POST":
        account = await store.create_account(_text(await _json_body(request), "name"))
        return JSONResponse(account.to_json(), status_code=201)
    return JSONResponse([a.to_json() for a in await store.list_accounts()])


async def _account(request: Request, store: HubStore) -> Response:
    return JSONResponse((await store.delete_account(request.path_params["id"])).to_json())


async def _services(request: Request, store: HubStore) -> Response:
    if request.method == "POST":
        service = await store.create_service(_text(await _json_body(request), "name"))
        return JSONResponse(service.to_json(), status_code=201)
    return JSONResponse([s.to_json() for s in await store.list_services()])


async def _service(request: Request, store: HubStore) -> Response:
    service_id = request.path_params["id"]
    if request.method == "PATCH":
        service = await store.update_service(service_id, _text(await _json_body(request), "name"))
    elif request.method == "DELETE":
        service = await store.delete_service(service_id)
    else:
        found = await store.get_service(service_id)
        if found is None:
            raise NotFound(f"no service {service_id!r}")
        service = found
    return JSONResponse(service.to_json())


async def _tokens(request: Request, store: HubStore) -> Response:
    if request.method == "POST":
        data = await _json_body(request)
        days = data.get("validity_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)):
            raise _BadRequest("validity_days must be a number")
        token = await store.create_token(_text(data, "service_id"), validity_days=days)
        return JSONResponse(token.to_json(), status_code=201)
    tokens = await store.list_tokens(request.query_params.get("service_id"))
    return JSONResponse([t.to_json() for t in tokens])


async def _token(request: Request, store: HubStore) -> Response:
    return JSONResponse((await store.delete_token(request.path_params["id"])).to_json(with_value=False))


def admin_routes(admin_token: str | None) -> list[BaseRoute]:
    """The admin API's routes, all checking ``admin_token`` in constant time."""
    return [
        Route("/admin/accounts", _guard(admin_token, _accounts), methods=["GET", "POST"]),
        Route("/admin/accounts/{id}", _guard(admin_token, _account), methods=["DELETE"]),
        Route("/admin/services", _guard(admin_token, _services), methods=["GET", "POST"]),
        Route("/admin/services/{id}", _guard(admin_token, _service), methods=["GET", "PATCH", "DELETE"]),
        Route("/admin/tokens", _guard(admin_token, _tokens), methods=["GET", "POST"]),
        Route("/admin/tokens/{id}", _guard(admin_token, _token), methods=["DELETE"]),
    ]
