"""``pymodules.api.auth`` → ``plugwork.events.api.auth``: the JWT provider, claims and FastAPI middleware.

The code lives in :mod:`plugwork.auth` (extra ``auth``); these are the names PyModules users import.
"""

from ...auth import AuthMiddleware, AuthProvider, JWTAuthProvider, TokenClaims

__all__ = ["AuthMiddleware", "AuthProvider", "JWTAuthProvider", "TokenClaims"]
