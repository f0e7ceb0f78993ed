"""The ``auth`` plugin: bearer tokens in, the permission check in the pipeline, identities on jobs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..http.guard import RouteGuard
from ..observability.logging import get_logger
from ..plugins import AppInit, Plugin
from .carriers import BearerCarrier, IdentityCarrier, IdentitySigner
from .http import challenge
from .permissions import PermissionCheck
from .provider import AuthProvider
from .settings import AuthSettings

if TYPE_CHECKING:
    from ..app import App

log = get_logger("plugwork.auth")
SCHEME = "bearerAuth"


class AuthPlugin(Plugin):
    """Authentication and per-action permissions on every transport (see docs/auth.md).

    ``App(plugins=[AuthPlugin()])`` reads ``PLUGWORK_JWT_*``; ``AuthPlugin(provider=MyProvider())`` uses
    your own :class:`AuthProvider`; keyword settings override the rest (``AuthPlugin(jwt_issuer=...)``).
    """

    name = "auth"
    settings_model = AuthSettings

    def __init__(self, provider: AuthProvider | None = None, **overrides: Any) -> None:
        super().__init__(**overrides)
        self._provider = provider
        self.provider: AuthProvider | None = None
        self.check: PermissionCheck | None = None

    def enabled(self, app: App) -> bool:
        # Always on once added: without a key every token is refused (fail closed), never ignored.
        return True

    def on_app_init(self, init: AppInit) -> None:
        settings: AuthSettings = self.config
        if self._provider is None and not settings.configured:
            log.warning("auth: no key configured (PLUGWORK_JWT_SECRET, ...): every token is refused")
        from .jwt import JWTAuthProvider

        provider = self._provider or JWTAuthProvider(settings)
        self.provider = provider
        self.check = PermissionCheck(
            provider, required=settings.required, trusted_transports=settings.trusted_transports
        )
        init.provide(AuthProvider, provider)  # type: ignore[type-abstract]
        if isinstance(provider, JWTAuthProvider):
            init.provide(JWTAuthProvider, provider)
        init.add_middleware(self.check)
        init.provide(RouteGuard, self.check)  # type: ignore[type-abstract]
        init.add_carrier(BearerCarrier(settings.jwt_max_token_bytes))
        key = identity_key(settings)
        if key is None:
            # No key every process shares (public-key verification): jobs run without their enqueuer's
            # identity (they were checked at enqueue) rather than with one nobody else can verify.
            log.warning("auth: no identity_key; jobs will not carry their enqueuer's identity")
        init.add_carrier(IdentityCarrier(IdentitySigner(key) if key is not None else None))

    def openapi(self, app: App, document: dict[str, Any]) -> None:
        """The bearer scheme, on every operation that needs a token (with its permissions)."""
        settings: AuthSettings = self.config
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        }
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        # Every operation that invokes an action: POST /actions/{name} (operationId: the name) and the REST
        # plugin's routes (operationId: rest_<name>); they all go through the permission check.
        by_operation = {
            key: spec for spec in app.actions.values() for key in (spec.name, f"rest_{spec.name}")
        }
        operations = [
            op for item in document.get("paths", {}).values() for op in item.values() if isinstance(op, dict)
        ]
        for operation in operations:
            spec = by_operation.get(operation.get("operationId", ""))
            if spec is None or not (spec.permissions or (settings.required and not spec.public)):
                continue
            operation["security"] = [{SCHEME: []}]
            operation["responses"]["401"] = {
                "description": "Missing, invalid or expired token",
                "content": error,
            }
            if spec.permissions:
                operation["x-permissions"] = list(spec.permissions)
                operation["responses"]["403"] = {"description": "Missing permission", "content": error}

    def asgi_middleware(self, app: App) -> Sequence[Callable[[Any], Any]]:
        return [challenge(self.config.realm)]

    def cli(self) -> Sequence[click.Command]:
        from .cli import auth

        return [auth]


def identity_key(settings: AuthSettings) -> bytes | None:
    """The key that signs job identities: set, or derived from the JWT secret; None without either."""
    if settings.identity_key is not None:
        return hashlib.sha256(settings.identity_key.get_secret_value().encode()).digest()
    if settings.jwt_secret is not None:
        # Derived, never the secret itself: an identity signature must not double as a token signature.
        return hmac.new(
            settings.jwt_secret.get_secret_value().encode(), b"plugwork job identity v1", hashlib.sha256
        ).digest()
    return None
