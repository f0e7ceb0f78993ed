"""Authentication: JWT verification, per-action permissions on every transport, FastAPI middleware.

Needs the ``auth`` extra (``pip install 'plugwork[auth]'``): PyJWT with its crypto backend. See
docs/auth.md. Names load on first use, so that ``import plugwork`` never needs the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

if TYPE_CHECKING:
    from .claims import TokenClaims, current_claims
    from .http import AuthMiddleware, require_permissions
    from .jwks import JWKSCache
    from .jwt import JWTAuthProvider
    from .permissions import PermissionCheck, authorize
    from .plugin import AuthPlugin
    from .provider import AuthProvider, InvalidToken
    from .settings import AuthSettings

_WHERE = {
    "AuthMiddleware": "http",
    "AuthPlugin": "plugin",
    "AuthProvider": "provider",
    "AuthSettings": "settings",
    "InvalidToken": "provider",
    "JWKSCache": "jwks",
    "JWTAuthProvider": "jwt",
    "PermissionCheck": "permissions",
    "TokenClaims": "claims",
    "authorize": "permissions",
    "current_claims": "claims",
    "require_permissions": "http",
}
__all__ = [
    "AuthMiddleware",
    "AuthPlugin",
    "AuthProvider",
    "AuthSettings",
    "InvalidToken",
    "JWKSCache",
    "JWTAuthProvider",
    "PermissionCheck",
    "TokenClaims",
    "authorize",
    "current_claims",
    "require_permissions",
]


__getattr__ = lazy_exports(__name__, _WHERE, needs=("jwt", "auth"))
