"""The :class:`AuthProvider` protocol (PyModules' shape) and the :class:`InvalidToken` it reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import Unauthorized
from .claims import TokenClaims


class InvalidToken(Unauthorized):
    """A token was refused. ``reason`` is for the server's log only; clients get a generic message."""

    def __init__(self, reason: str) -> None:
        super().__init__("Invalid or expired token")
        self.reason = reason


@runtime_checkable
class AuthProvider(Protocol):
    """Turns a bearer token into :class:`TokenClaims` (or None when it is not valid), and mints tokens."""

    async def validate_token(self, token: str) -> TokenClaims | None:
        """The token's claims, or None when the token is not valid."""
        ...

    async def create_token(self, claims: Mapping[str, Any]) -> str:
        """A signed token carrying ``claims``."""
        ...


async def verify_with(provider: AuthProvider, token: str) -> TokenClaims:
    """The claims of ``token``; raises :class:`InvalidToken` (with the provider's reason when it has one)."""
    verify = getattr(provider, "verify", None)
    if verify is not None:
        claims: TokenClaims = await verify(token)
        return claims
    found = await provider.validate_token(token)
    if found is None:
        raise InvalidToken("refused by the provider")
    return found
