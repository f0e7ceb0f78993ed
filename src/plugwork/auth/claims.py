"""``TokenClaims``: who is calling, as a validated token says, and how it travels in ``ctx.auth``."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..context import current_context

MAX_PERMISSIONS = 256


class TokenClaims(BaseModel):
    """The claims Plugwork uses: subject, times, permissions, roles, tenant (others are in ``extra``)."""

    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1, max_length=256)
    exp: datetime | None = None
    iat: datetime | None = None
    permissions: tuple[str, ...] = Field((), max_length=MAX_PERMISSIONS)
    roles: tuple[str, ...] = Field((), max_length=MAX_PERMISSIONS)
    tenant: str | None = Field(None, max_length=256)
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TokenClaims:
        """Claims from a decoded JWT payload: ``permissions`` (a list) or a space-separated ``scope``."""
        permissions = payload.get("permissions")
        if permissions is None:
            scope = payload.get("scope", payload.get("scp"))
            permissions = scope.split() if isinstance(scope, str) else scope
        roles = payload.get("roles")
        known = {"sub", "exp", "iat", "permissions", "scope", "scp", "roles", "tenant"}
        return cls(
            sub=str(payload["sub"]),
            exp=_time(payload.get("exp")),
            iat=_time(payload.get("iat")),
            permissions=tuple(_strings(permissions)),
            roles=tuple(_strings(roles)),
            tenant=None if payload.get("tenant") is None else str(payload["tenant"]),
            extra={k: v for k, v in payload.items() if k not in known},
        )

    def has(self, *permissions: str) -> bool:
        """Whether every one of ``permissions`` was granted."""
        return set(permissions) <= set(self.permissions)

    def to_context(self) -> dict[str, Any]:
        """The JSON-able dict handlers find in ``ctx.auth`` (a fresh copy each time)."""
        return dict(self._context)

    @cached_property
    def _context(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    raise ValueError("permissions and roles must be a list or a space-separated string")


def current_claims() -> TokenClaims | None:
    """The claims of the invocation running now (None when anonymous or outside an invocation)."""
    ctx = current_context.get()
    if ctx is None or not ctx.auth:
        return None
    return TokenClaims.model_validate(ctx.auth)
