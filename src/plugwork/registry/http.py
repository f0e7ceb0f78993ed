"""``GET /registry``: this instance's cached view of the fleet, read-only, behind a bearer token.

The fleet's addresses are what an attacker inside the network looks for first, so the route exists only
when ``http_token`` is set (``PLUGWORK_REGISTRY_HTTP_TOKEN``), compares it in constant time, and shows the
safe listing of :mod:`.listing`. ``?service=NAME`` narrows it to one service.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ErrorCode
from ..http.responses import JSONResponse, error_response
from .listing import fleet_listing
from .view import Registry


def registry_routes(registry: Registry, token: str) -> list[BaseRoute]:
    """The ``GET /registry`` route, answering 401 without ``Authorization: Bearer <token>``."""
    expected = hashlib.sha256(f"Bearer {token}".encode()).digest()

    async def fleet(request: Request) -> Response:
        given = hashlib.sha256(request.headers.get("authorization", "").encode()).digest()
        if not hmac.compare_digest(given, expected):
            return error_response(ErrorCode.UNAUTHORIZED, "A valid bearer token is required")
        service = request.query_params.get("service")
        if service is not None and not 0 < len(service) <= 255:
            return error_response(ErrorCode.BAD_REQUEST, "service must be 1 to 255 characters")
        body = fleet_listing(registry.instances(service))
        body["refreshed_at"] = registry.refreshed_at
        body["instance_id"] = registry.instance_id
        return JSONResponse(body)

    return [Route("/registry", fleet, methods=["GET"])]


def registry_openapi_paths() -> dict[str, Any]:
    """The OpenAPI ``paths`` entry of ``GET /registry`` (present only while the route is mounted)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "/registry": {
            "get": {
                "operationId": "registry_view",
                "summary": "This instance's cached view of the fleet (bearer token required)",
                "tags": ["registry"],
                "parameters": [
                    {"name": "service", "in": "query", "schema": {"type": "string", "maxLength": 255}}
                ],
                "responses": {
                    "200": {
                        "description": "Services, their versions and live instances",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": {"description": "No valid bearer token", "content": error},
                },
            }
        }
    }
