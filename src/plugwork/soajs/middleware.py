"""The SOAJS context middleware: one core, a pure-ASGI wrapper and a thin WSGI wrapper.

Both check the ``soajsinjectobj`` header the gateway sets (answering a malformed or oversize one with a 400
JSON error), attach the registry the :class:`~plugwork.soajs.RegistryManager` holds now, and put the context
where :func:`~plugwork.soajs.get_soajs_context` finds it. A request without the header passes with no
context, or gets a 401 when ``required=True`` (``exempt_paths`` such as health probes always pass).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import ErrorCode
from .connector import ServiceConnector
from .context import (
    ENVIRON_KEY,
    HEADER,
    SCOPE_KEY,
    PendingContext,
    check_inject_header,
    current_pending,
    get_soajs_context,
    max_header_size,
)
from .exceptions import InjectHeaderError

if TYPE_CHECKING:
    from .registry import RegistryManager

# soajs-python users import these four from `soajs.middleware`: `plugwork.soajs.middleware` has them too.
__all__ = ["SOAJSMiddleware", "SOAJSWSGIMiddleware", "ServiceConnector", "get_soajs_context"]

_HEADER_BYTES = HEADER.encode()
_WSGI_KEY = "HTTP_" + HEADER.upper()
Rejection = tuple[int, bytes]


class SoajsContextCore:
    """What both middlewares do with one request's header: a context, nothing, or a rejection."""

    def __init__(
        self,
        registry: RegistryManager | None = None,
        *,
        required: bool = False,
        exempt_paths: Collection[str] = (),
        max_header_size: int | None = None,
        eager: bool = False,
    ) -> None:
        self.registry = registry
        self.required = required
        self.exempt_paths = frozenset(exempt_paths)
        self.max_size = max_header_size or max_header_size_default()
        self.eager = eager

    def inspect(self, raw: bytes | str | None, path: str) -> PendingContext | Rejection | None:
        """The context of a request with header value ``raw`` (None: absent), or ``(status, body)``."""
        if raw is None:
            if self.required and path not in self.exempt_paths:
                return 401, _error(
                    ErrorCode.UNAUTHORIZED, f"This service is called through SOAJS: no {HEADER}"
                )
            return None
        registry = self.registry.current if self.registry is not None else None
        try:
            pending = check_inject_header(raw, registry, max_size=self.max_size)
            if self.eager:
                pending.resolve()
        except InjectHeaderError as exc:
            return 400, _error(ErrorCode.BAD_REQUEST, exc.message)
        return pending


def max_header_size_default() -> int:
    """``SOAJS_MAX_INJECT_HEADER_SIZE`` or 65,536 bytes."""
    return max_header_size()


def _error(code: ErrorCode, message: str) -> bytes:
    return orjson.dumps({"error_code": code.value, "error_message": message, "details": None})


class SOAJSMiddleware:
    """Pure-ASGI SOAJS context middleware (Starlette, FastAPI, Plugwork's own HTTP transport).

    ``app.add_middleware(SOAJSMiddleware, registry=registry)``, or ``SOAJSMiddleware(asgi_app, registry)``.
    """

    def __init__(self, app: Any, registry: RegistryManager | None = None, **options: Any) -> None:
        self.app = app
        self.core = SoajsContextCore(registry, **options)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:  # ASGI servers give lower-case header names
                raw = value
                break
        found = self.core.inspect(raw, scope["path"])
        if isinstance(found, tuple):
            status, body = found
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if found is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = found
        token = current_pending.set(found)  # for Plugwork's carrier: it sees only headers up to 8 KiB
        try:
            await self.app(scope, receive, send)
        finally:
            current_pending.reset(token)


class SOAJSWSGIMiddleware:
    """WSGI SOAJS context middleware (Flask, Django): ``app.wsgi_app = SOAJSWSGIMiddleware(app.wsgi_app, r)``.

    The context lands in ``environ["soajs.context"]``; read it with ``get_soajs_context(request)``.
    """

    def __init__(
        self, app: Callable[..., Iterable[bytes]], registry: RegistryManager | None = None, **options: Any
    ):
        self.app = app
        self.core = SoajsContextCore(registry, **options)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw = environ.get(_WSGI_KEY)
        found = self.core.inspect(raw, environ.get("PATH_INFO", ""))
        if isinstance(found, tuple):
            status, body = found
            reason = "Bad Request" if status == 400 else "Unauthorized"
            start_response(
                f"{status} {reason}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if found is not None:
            environ[ENVIRON_KEY] = found
        return self.app(environ, start_response)
