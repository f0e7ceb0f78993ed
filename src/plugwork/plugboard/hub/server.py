"""The hub's ASGI app (Starlette): producers' ``POST /``, consumers' ``/websocket``, ``/health`` (and its
``/live`` and ``/ready`` forms for probes), ``/metrics`` and the admin API under ``/admin``.

``create_app(settings)`` opens the store and starts the hub in the app's lifespan; serve it with uvicorn
(``plugwork hub`` does). Every answer of ``POST /`` — the consumer's or the hub's own error — has the body
``{"status_code", "message", "fields"}`` and that ``status_code`` as its HTTP status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ...carriers import CORRELATION_HEADER, MAX_CORRELATION_ID, MAX_HEADER_VALUE
from ...context import new_correlation_id
from ...observability.metrics import exposition
from ...server import uvicorn_defaults
from .admin import admin_routes
from .core import Hub, HubSettings
from .factory import open_store
from .metrics import HubMetrics
from .router import HubError
from .sockets import serve_consumer
from .store import HubStore
from .tracing import HubTracing
from .wsprotocol import HubWebSocketProtocol

_JSON = b"application/json"
CARRIED_HEADERS = frozenset({b"x-correlation-id", b"traceparent", b"tracestate", b"baggage"})
"""The producer's request headers the hub passes on to the consumer (the context carriers read them)."""
log = logging.getLogger(__name__)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HubError(400, "the client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HubError(413, f"the request body is over the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_request(body: bytes) -> tuple[str, str, Any]:
    """``(service_id, action, fields)`` from a producer's body; HubError 400 naming what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HubError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HubError(400, 'the body must be a JSON object {"service_id", "action", "fields"}')
    service_id, action, fields = data.get("service_id"), data.get("action"), data.get("fields", {})
    if not isinstance(service_id, str) or not service_id:
        raise HubError(400, "service_id must be a non-empty string")
    if not isinstance(action, str) or not action:
        raise HubError(400, "action must be a non-empty string")
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise HubError(400, "fields must be a JSON object")
    return service_id, action, fields


async def _reply(send: Send, status: int, body: bytes, correlation_id: str) -> None:
    headers = [
        (b"content-type", _JSON),
        (b"content-length", str(len(body)).encode()),
        (b"x-correlation-id", correlation_id.encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _fail(send: Send, metrics: HubMetrics, error: HubError, correlation_id: str) -> None:
    metrics.count(error.outcome)
    body = orjson.dumps({"status_code": error.status, "message": error.message, "fields": {}})
    await _reply(send, error.status, body, correlation_id)


async def produce(hub: Hub, scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /``: authenticate, validate, route to a consumer, answer with its reply (or the hub's error).

    A plain ASGI callable rather than a Starlette route: it is the hot path, and Starlette's middleware
    stack, Request and Response objects cost more than the routing itself (measured in bench/plugboard.py).
    """
    metrics = hub.metrics
    limit = hub.settings.max_body_bytes
    carried: dict[str, str] = {}
    try:
        authorization = b""
        too_large = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
            elif key in CARRIED_HEADERS and len(value) <= MAX_HEADER_VALUE:
                carried[key.decode()] = value.decode("latin-1")
            elif key == b"content-length" and value.isdigit() and int(value) > limit:
                too_large = True
        correlation_id = (carried.get(CORRELATION_HEADER) or new_correlation_id())[:MAX_CORRELATION_ID]
        carried[CORRELATION_HEADER] = correlation_id
        if too_large:
            raise HubError(413, f"the request body is over the {limit}-byte limit")
        scheme, _, secret = authorization.decode("latin-1").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise HubError(401, "an account token is required: Authorization: Bearer <token>")
        if not await hub.authenticate_producer(secret):
            raise HubError(401, "the account token is invalid")
        service_id, action, fields = parse_request(await read_body(receive, limit))
        if await hub.service(service_id) is None:
            raise HubError(404, f"no service {service_id!r}")
        start = time.perf_counter()
        tracing = hub.tracing
        if tracing is None:
            answer = await hub.router.call(service_id, action, fields, carried)
        else:
            with tracing.span(service_id, action, carried) as span:
                answer = await hub.router.call(service_id, action, fields, carried)
                tracing.answered(span, answer.status_code)
    except HubError as error:
        await _fail(send, metrics, error, carried.get(CORRELATION_HEADER) or "")
        return
    except Exception as exc:  # the store failed under a look-up: say so, never crash the request
        log.warning("plugboard hub: producer request failed: %r", exc)
        unavailable = HubError(503, f"the hub store is unavailable: {exc}", "store_unavailable")
        await _fail(send, metrics, unavailable, carried.get(CORRELATION_HEADER) or "")
        return
    metrics.observe(time.perf_counter() - start)
    metrics.count("answered")
    await _reply(send, answer.status_code, orjson.dumps(answer.to_json()), correlation_id)


class HubApp:
    """The hub's ASGI app: ``POST /`` and ``/websocket`` directly; the rest and the lifespan by Starlette."""

    def __init__(self, routes: Starlette) -> None:
        self.routes = routes

    @property
    def state(self) -> State:
        """Starlette's app state; ``state.hub`` is the running :class:`Hub`."""
        return self.routes.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"] == "/" and scope["method"] == "POST":
            await produce(self.routes.state.hub, scope, receive, send)
        elif kind == "websocket" and scope["path"] == "/websocket":
            await serve_consumer(self.routes.state.hub, scope, receive, send)
        else:
            await self.routes(scope, receive, send)


async def _health(request: Request) -> Response:
    report = await request.app.state.hub.health.report()
    return JSONResponse(report.to_dict(), status_code=report.http_status)


async def _ready(request: Request) -> Response:
    # As an app's /health/ready: only the checks registered as required (store, backplane) gate it.
    report = await request.app.state.hub.health.report(required_only=True)
    return JSONResponse(report.to_dict(), status_code=report.http_status)


async def _live(request: Request) -> Response:
    # Liveness says only that the process answers: a store outage must not get the hub restarted.
    return JSONResponse({"status": "alive"})


async def _metrics(request: Request) -> Response:
    body, media_type = exposition(request.app.state.hub.registry)
    return Response(body, media_type=media_type)


def create_app(settings: HubSettings | None = None, *, store: HubStore | None = None) -> HubApp:
    """The hub as an ASGI app. ``store`` (unopened; the app opens it) overrides ``settings.store_url``."""
    settings = settings or HubSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub_store = store or open_store(settings.store_url, token_validity_days=settings.token_validity_days)
        await hub_store.open()
        hub = Hub(settings, hub_store)
        hub.tracing = HubTracing.from_environment()  # here: in the serving process, after any fork
        app.state.hub = hub
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await hub_store.close()
            if hub.tracing is not None:
                await asyncio.to_thread(hub.tracing.shutdown)

    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/health/live", _live, methods=["GET"]),
        Route("/health/ready", _ready, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
        *admin_routes(settings.admin_token),
    ]
    if settings.dashboard:
        from ...dashboard.hub import hub_dashboard_routes

        routes += hub_dashboard_routes(settings.admin_token)
    return HubApp(Starlette(routes=routes, lifespan=lifespan))


# uvicorn's WebSocket implementations the hub can run on, the default first (bench/plugboard.py --ws).
WS_IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")


def uvicorn_options(settings: HubSettings, ws: str = WS_IMPLEMENTATIONS[0]) -> dict[str, Any]:
    """The uvicorn ``Config`` options a hub runs with: loop, protocols, WebSocket limits, no extras."""
    return {
        **uvicorn_defaults(settings.http_limits()),  # uvloop and httptools when installed, held to limits
        # The default, with uvicorn's handling of refused and unparsable handshakes fixed (.wsprotocol).
        "ws": HubWebSocketProtocol if ws == "websockets-sansio" else ws,
        "ws_max_size": settings.max_frame_bytes + 1024,
        "ws_per_message_deflate": False,  # frames are small JSON: compressing them costs CPU on every frame
        "ws_ping_interval": None,  # Phoenix heartbeats are the liveness check
        "access_log": False,
        "proxy_headers": False,  # the hub never looks at client addresses: one middleware less per request
        "server_header": False,
    }
