"""The ASGI entry point.

``POST /actions/{name}`` is served by a hand-written ASGI path, because it is the hot path and a router,
request object and response object per call cost more than the whole pipeline (measured: a Starlette route
adds ~10 µs per request). Everything else — catalog, docs, health, metrics and the plugins' routes — goes
to a Starlette app, and lifespan events start and stop the Plugwork App. The plugins' ASGI middleware wraps
both. What depends on a start (routes, carriers, middleware) is rebuilt when the app starts again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..carriers import CORRELATION_HEADER, MAX_CORRELATION_ID, MAX_HEADER_VALUE
from ..context import Context, new_correlation_id
from ..dispatch import Dispatcher, Invocation
from ..errors import ActionError, ErrorCode
from ..observability.logging import configure_logging, logging_configured
from .body import is_json
from .responses import error_body

if TYPE_CHECKING:
    from ..app import App

Scope = dict[str, Any]
Receive = Any
Send = Any

_PREFIX = "/actions/"
_PREFIX_LEN = len(_PREFIX)
_JSON = (b"content-type", b"application/json")


class HttpTransport:
    """The ASGI app serving a Plugwork :class:`App`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._generation = -1  # the app start that what follows was built for
        self._routes: Any = None
        self._entry: Any = self._serve
        self._dispatcher: Dispatcher | None = None
        self._max_body = 0
        self._carried: frozenset[bytes] = frozenset()  # carried header names beyond the correlation id

    def _refresh(self) -> None:
        """Rebuild what depends on the app's current start."""
        app = self.app
        self._generation = app.generation
        self._routes = None
        self._dispatcher = app.dispatcher if app.generation else None
        self._max_body = app.settings.max_body_bytes
        self._carried = frozenset(k.encode("latin-1") for k in app.carriers.keys - {CORRELATION_HEADER})
        entry: Any = self._serve
        for plugin in reversed(app.active_plugins):
            for wrap in reversed(plugin.asgi_middleware(app)):
                entry = wrap(entry)
        self._entry = entry

    @property
    def routes(self) -> Any:
        """The Starlette app for every other route, built on first use after each start."""
        if self._generation != self.app.generation:
            self._refresh()
        if self._routes is None:
            from .routes import build_routes

            self._routes = build_routes(self.app)
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._generation != self.app.generation:
            self._refresh()
        await self._entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(_PREFIX):
            name = scope["path"][_PREFIX_LEN:]
            if name and "/" not in name:
                await self._invoke(name, scope, receive, send)
                return
        await self.routes(scope, receive, send)

    async def _invoke(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._max_body
        carried_keys = self._carried
        carried: dict[str, str] | None = {} if carried_keys else None
        correlation_id = None
        too_large = False  # answered after the loop, so that a later X-Correlation-ID is still echoed
        content_type: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"x-correlation-id":
                correlation_id = value.decode("latin-1")[:MAX_CORRELATION_ID]
            elif key == b"content-type":
                content_type = value
            elif key == b"content-length" and value.isdigit() and int(value) > limit:
                too_large = True
            elif carried is not None and key in carried_keys and len(value) <= MAX_HEADER_VALUE:
                carried[key.decode("latin-1")] = value.decode("latin-1")
        if correlation_id is None:
            correlation_id = new_correlation_id()
        if content_type is not None and not is_json(content_type):
            # Forms and text/plain are what a browser posts cross-site without a CORS preflight.
            await _reply(send, 415, _NOT_JSON, correlation_id)
            return
        if too_large:
            await _reply(send, 413, _too_large(limit), correlation_id)
            return
        dispatcher = self._dispatcher
        if dispatcher is None:
            await _reply(send, 503, _not_ready(), correlation_id)
            return
        try:
            body = await _read_body(receive, limit)
        except _Disconnected:
            return  # the client is gone: nothing to run, nobody to answer
        if body is None:
            await _reply(send, 413, _too_large(limit), correlation_id)
            return
        if body and content_type is None:  # a body must say it is JSON; no body at all means {}
            await _reply(send, 415, _NOT_JSON, correlation_id)
            return
        ctx = Context(correlation_id, "http", request_id=correlation_id, http_scope=scope)
        if carried is not None:
            try:
                self.app.carriers.extract(carried, ctx)
            except ActionError as exc:
                error = {"error_code": exc.code.value, "error_message": exc.message, "details": exc.details}
                await _reply(send, exc.status, orjson.dumps(error), correlation_id)
                return
        outcome = await dispatcher.dispatch(Invocation(name, body or b"{}", ctx))
        if outcome.error is None:
            await _reply(send, outcome.status, outcome.output_json(), correlation_id)
        else:
            await _reply(send, outcome.status, orjson.dumps(outcome.error.to_dict()), correlation_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if not logging_configured():  # served by a plain ASGI server, not `plugwork run`
                        settings = self.app.settings
                        configure_logging(json=settings.log_json, level=settings.log_level)
                    await self.app.start()
                except BaseException as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.app.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


class _Disconnected(Exception):
    """The client disconnected before sending its whole body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _Disconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body if len(body) <= limit else None
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _reply(send: Send, status: int, body: bytes, correlation_id: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                _JSON,
                (b"content-length", str(len(body)).encode()),
                (b"x-correlation-id", correlation_id.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> bytes:
    return orjson.dumps(error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body exceeds {limit} bytes"))


_NOT_JSON = orjson.dumps(
    error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
)


def _not_ready() -> bytes:
    return orjson.dumps(error_body(ErrorCode.UNAVAILABLE, "The app is not started"))
