"""The permission check: one dispatch middleware, so every transport gets the same rules.

For an action, on a transport that is not trusted (HTTP, Plugboard; ``app.call`` and jobs are trusted:
jobs were checked when they were enqueued):

- a presented token must be valid, whatever the action (401 ``UNAUTHORIZED`` otherwise);
- with no token: 401 if the action has ``permissions``, or if ``required`` and the action is not
  ``public=True``;
- with a token: 403 ``FORBIDDEN`` unless it grants every one of the action's ``permissions``.

Handlers find the caller's claims in ``ctx.auth`` (or :func:`plugwork.auth.current_claims`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ..context import Context
from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ActionError, Forbidden, Unauthorized
from ..observability.logging import get_logger
from .carriers import MALFORMED, TOKEN_KEY
from .provider import AuthProvider, InvalidToken, verify_with

if TYPE_CHECKING:
    from ..actions import Action

log = get_logger("plugwork.auth")


def authorize(spec: Any, auth: Mapping[str, Any] | None, *, required: bool) -> ActionError | None:
    """Why ``auth`` (``ctx.auth``) may not invoke the action ``spec``, or None when it may."""
    permissions: Collection[str] = getattr(spec, "permissions", ()) or ()
    if auth is None:
        if permissions or (required and not getattr(spec, "public", False)):
            return Unauthorized("Authentication required")
        return None
    if permissions and not set(permissions) <= set(auth.get("permissions") or ()):
        return Forbidden("Missing permission", details={"required": sorted(permissions)})
    return None


class PermissionCheck:
    """The dispatch middleware enforcing the rules above with ``provider``."""

    def __init__(
        self, provider: AuthProvider, *, required: bool, trusted_transports: Collection[str]
    ) -> None:
        self.provider = provider
        self.required = required
        self.trusted = frozenset(trusted_transports)

    async def authenticate(self, ctx: Context, what: str) -> ActionError | None:
        """Verify the token the carrier left in ``ctx``, setting ``ctx.auth``; the refusal if any."""
        token = ctx.extras.pop(TOKEN_KEY, None)
        if token is None:
            return None
        if token == MALFORMED:
            log.info("token refused", target=what, reason="not a bearer token")
            return Unauthorized("Invalid or expired token")
        try:
            claims = await verify_with(self.provider, token)
        except InvalidToken as exc:
            log.info("token refused", target=what, reason=exc.reason)
            return exc
        ctx.auth = claims.to_context()
        return None

    async def admit(
        self, ctx: Context, *, permission: str | None = None, action: Action | None = None
    ) -> ActionError | None:
        """The :class:`~plugwork.http.guard.RouteGuard` the jobs and management routes use."""
        refusal = await self.authenticate(ctx, action.name if action is not None else permission or "route")
        if refusal is not None:
            return refusal
        if action is not None:
            return authorize(action, ctx.auth, required=self.required)
        if ctx.auth is None:
            return Unauthorized("Authentication required")
        if permission is not None and permission not in (ctx.auth.get("permissions") or ()):
            return Forbidden("Missing permission", details={"required": [permission]})
        return None

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        refusal = await self.authenticate(invocation.context, invocation.action)
        if (
            refusal is None
            and invocation.spec is not None
            and invocation.context.transport not in self.trusted
        ):
            refusal = authorize(invocation.spec, invocation.context.auth, required=self.required)
        if refusal is not None:
            return Outcome.from_exception(refusal)
        return await call_next(invocation)
