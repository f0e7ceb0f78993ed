"""Who may use the dashboard, and why a browser on another site cannot make it change anything.

The same rules as the management API (:mod:`plugwork.http.management`), decided once at start:

- ``token``: ``Authorization: Bearer <management_token>`` (compared in constant time) grants everything;
- ``auth``: the app's :class:`~plugwork.http.guard.RouteGuard` decides, by permission: reading jobs needs
  ``jobs:read``, retry / cancel / run now ``jobs:manage``, the services view ``plugwork:manage`` (the
  management token, when set, is accepted too);
- ``open``: dev mode with neither (a developer's own machine).

With neither a token nor an auth plugin outside dev mode the dashboard refuses to start (a
:class:`~plugwork.errors.ConfigError`): it is never served unguarded by accident.

CSRF: credentials travel only in the ``Authorization`` header, set by the page's script (never a cookie,
so a browser never adds them on its own), and every state change is a ``POST`` that must carry the custom
header ``X-Plugwork-Dashboard: 1`` and, when the browser sends ``Origin``, come from the page's own origin.
A form or link on another site can set neither; a cross-site ``fetch`` that sets them needs a CORS
preflight, which Plugwork never grants.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Literal

from ..errors import ActionError, ConfigError, Forbidden, Unauthorized
from ..http.body import incoming_context

if TYPE_CHECKING:
    from pydantic import SecretStr
    from starlette.requests import Request

    from ..carriers import Carriers
    from ..http.guard import RouteGuard

Mode = Literal["token", "auth", "open"]
CSRF_HEADER = "x-plugwork-dashboard"
JOBS_READ = "jobs:read"
JOBS_MANAGE = "jobs:manage"
SERVICES = "plugwork:manage"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


class DashboardAccess:
    """The check every dashboard data route runs (see the module docstring)."""

    def __init__(
        self, *, token: SecretStr | None, guard: RouteGuard | None, dev_mode: bool, carriers: Carriers
    ) -> None:
        secret = token.get_secret_value() if token is not None else ""
        self._token = _digest("Bearer " + secret) if secret else None
        self._guard = guard
        self._carriers = carriers
        self.mode: Mode
        if guard is not None:
            self.mode = "auth"
        elif self._token is not None:
            self.mode = "token"
        elif dev_mode:
            self.mode = "open"
        else:
            raise ConfigError(
                "dashboard needs a guard: set management_token, add the auth plugin, or use dev_mode",
                key="plugins.dashboard.dashboard",
            )

    async def check(self, request: Request, permission: str) -> ActionError | None:
        """Why ``request`` may not go on (None when it may): CSRF first for a POST, then the caller."""
        if request.method != "GET":
            refusal = same_origin_refusal(request)
            if refusal is not None:
                return refusal
        if self.mode == "open":
            return None
        given = request.headers.get("authorization", "")
        if self._token is not None and hmac.compare_digest(_digest(given), self._token):
            return None
        if self._guard is None:
            return Unauthorized("A valid bearer token is required")
        with incoming_context(request, self._carriers) as ctx:
            return await self._guard.admit(ctx, permission=permission)


def same_origin_refusal(request: Request) -> ActionError | None:
    """Why a state-changing request may be cross-site: no custom header, or a foreign ``Origin``."""
    if request.headers.get(CSRF_HEADER) != "1":
        return Forbidden(f"State changes need the {CSRF_HEADER} header (sent by the dashboard's script)")
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin.partition("://")[2] != host:
            return Forbidden("Cross-origin request refused")
    return None
