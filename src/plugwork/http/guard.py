"""``RouteGuard``: how a plugin's own HTTP routes (jobs, management) ask the app's authentication.

An auth plugin provides one (``init.provide(RouteGuard, ...)``); routes that change or reveal data call
it with the context their request's carried headers describe (:func:`plugwork.http.body.incoming_context`)
and answer its refusal as is. Without one, such routes fall back to their own guard (a static token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..actions import Action
    from ..context import Context
    from ..errors import ActionError


@runtime_checkable
class RouteGuard(Protocol):
    """Admits the caller of a request, or says why not (401 ``UNAUTHORIZED`` / 403 ``FORBIDDEN``)."""

    async def admit(
        self, ctx: Context, *, permission: str | None = None, action: Action | None = None
    ) -> ActionError | None:
        """None when the caller may go on, after setting ``ctx.auth``; otherwise the refusal.

        ``action``: the caller may invoke it (its ``permissions``/``public``); ``permission``: the caller
        holds it; neither: the caller is authenticated.
        """
        ...
