"""HTTP pieces of auth: the ``WWW-Authenticate`` challenge, and ``AuthMiddleware`` for FastAPI apps.

:func:`challenge` wraps Plugwork's HTTP transport: every 401 it answers (actions, jobs, management)
carries ``WWW-Authenticate: Bearer realm="..."`` (with ``error="invalid_token"`` when a token was sent),
and a 403 to a request with a token carries ``error="insufficient_scope"`` (RFC 6750). The challenge
never says what was wrong with a token.

:class:`AuthMiddleware` is PyModules' middleware for a FastAPI (or any Starlette) app:
``app.add_middleware(AuthMiddleware, provider=JWTAuthProvider())``. It verifies a bearer token when one
is sent, puts the claims in ``request.state.auth`` (None when anonymous), and answers 401 for an invalid
token, or for a missing one when ``required=True`` (paths in ``exclude_paths`` excepted). Guard a route
with ``Depends(require_permissions("orders:write"))``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from starlette.requests import Request

from ..errors import ErrorCode
from ..http.responses import error_body
from .claims import TokenClaims
from .provider import AuthProvider, InvalidToken, verify_with
from .settings import MAX_TOKEN_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _has_authorization(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


def challenge(realm: str) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI wrapper adding ``WWW-Authenticate`` to 401 and 403 answers (see the module docstring)."""
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    missing = f'Bearer realm="{quoted}"'.encode()
    invalid = f'Bearer realm="{quoted}", error="invalid_token"'.encode()
    scope_error = f'Bearer realm="{quoted}", error="insufficient_scope"'.encode()

    def wrap(app: ASGIApp) -> ASGIApp:
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_with_challenge(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] in (401, 403):
                    sent = _has_authorization(scope)
                    value = (invalid if sent else missing) if message["status"] == 401 else scope_error
                    if message["status"] == 401 or sent:
                        headers = [
                            (k, v) for k, v in message.get("headers", ()) if k.lower() != b"www-authenticate"
                        ]
                        message = {**message, "headers": [*headers, (b"www-authenticate", value)]}
                await send(message)

            await app(scope, receive, send_with_challenge)

        return asgi

    return wrap


class AuthMiddleware:
    """Bearer-token authentication for FastAPI/Starlette apps (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        provider: AuthProvider,
        *,
        required: bool = False,
        exclude_paths: Collection[str] = ("/docs", "/openapi.json", "/health"),
        realm: str = "api",
        max_token_bytes: int = MAX_TOKEN_BYTES,
    ) -> None:
        self.app = challenge(realm)(app)
        self.realm = realm
        self.provider = provider
        self.required = required
        self.exclude = tuple(exclude_paths)
        self.max_token_bytes = max_token_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["auth"] = None
        header = _header(scope, b"authorization")
        path = scope.get("path", "")
        if header is None:
            if self.required and not any(path == p or path.startswith(p + "/") for p in self.exclude):
                await _refuse(scope, receive, send, "Authentication required", self.realm)
                return
            await self.app(scope, receive, send)
            return
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip() or len(token) > self.max_token_bytes:
                raise InvalidToken("not a bearer token")
            state["auth"] = await verify_with(self.provider, token.strip())
        except InvalidToken:
            await _refuse(scope, receive, send, "Invalid or expired token", self.realm)
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str, realm: str) -> None:
    from starlette.responses import JSONResponse

    response = JSONResponse(error_body(ErrorCode.UNAUTHORIZED, message), status_code=401)
    # Sent through the challenge wrapper's logic directly: this answer bypasses the wrapped app.
    await challenge(realm)(response)(scope, receive, send)


def require_permissions(*permissions: str) -> Callable[[Request], Awaitable[TokenClaims]]:
    """A FastAPI dependency: the caller's claims, or 401/403 (``Depends(require_permissions("x:write"))``)."""
    from starlette.exceptions import HTTPException

    async def dependency(request: Request) -> TokenClaims:
        claims: TokenClaims | None = getattr(request.state, "auth", None)
        if claims is None:
            raise HTTPException(401, "Authentication required", headers={"WWW-Authenticate": "Bearer"})
        if not claims.has(*permissions):
            raise HTTPException(403, "Missing permission")
        return claims

    return dependency
