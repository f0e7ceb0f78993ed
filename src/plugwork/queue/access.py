"""Who may use the jobs API (``/jobs``): off, a static token, the app's auth, or open.

``jobs_api`` (``PLUGWORK_JOBS_API``, YAML ``plugins.queue.jobs_api``):

- ``auto`` (default): ``auth`` when an auth plugin is active, else ``token`` when ``jobs_api_token`` is
  set, else ``open`` in dev mode, else ``off``. Safe by default: nobody runs or reads jobs anonymously.
- ``off``: no ``/jobs`` routes at all.
- ``token``: ``Authorization: Bearer <jobs_api_token>`` (compared in constant time) for every route.
- ``auth``: the app's :class:`~plugwork.http.guard.RouteGuard`: ``POST /jobs`` needs what invoking the
  action directly needs (its ``permissions``, or ``public``); listing and reading jobs need the
  ``jobs:read`` permission, retry and cancel ``jobs:manage``.
- ``open``: no check (a local example, a private network).

Whatever the mode, ``POST /jobs`` only takes actions offered over both ``http`` and ``queue``
(``@action(transports=...)``): a job-only action is the app's own business, not an HTTP client's.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from ..config import PluginSettings
from ..errors import ActionError, ConfigError, Forbidden, Unauthorized

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..actions import Action
    from ..context import Context
    from ..http.guard import RouteGuard

JOBS_READ = "jobs:read"
JOBS_MANAGE = "jobs:manage"
Mode = Literal["auto", "off", "token", "auth", "open"]


class QueueSettings(PluginSettings):
    """The queue plugin's own settings (YAML ``plugins.queue:``); the store's are in the app settings."""

    jobs_api: Mode = "auto"
    jobs_api_token: SecretStr | None = None


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


class JobsAccess:
    """The check each ``/jobs`` route runs, for the resolved mode (see the module docstring)."""

    def __init__(self, mode: Mode, *, token: SecretStr | None = None, guard: RouteGuard | None = None):
        if mode == "token" and (token is None or not token.get_secret_value()):
            raise ConfigError("jobs_api=token needs jobs_api_token", key="plugins.queue.jobs_api_token")
        if mode == "auth" and guard is None:
            raise ConfigError("jobs_api=auth needs an auth plugin", key="plugins.queue.jobs_api")
        self.mode = mode
        self._token = _digest("Bearer " + token.get_secret_value()) if token is not None else None
        self._guard = guard

    @classmethod
    def resolve(cls, settings: QueueSettings, *, dev_mode: bool, guard: RouteGuard | None) -> JobsAccess:
        """The access for ``settings``, ``auto`` decided from what the app has."""
        mode = settings.jobs_api
        if mode == "auto":
            if guard is not None:
                mode = "auth"
            elif settings.jobs_api_token is not None:
                mode = "token"
            else:
                mode = "open" if dev_mode else "off"
        return cls(mode, token=settings.jobs_api_token, guard=guard)

    async def check(
        self, request: Request, ctx: Context, *, permission: str | None = None, action: Action | None = None
    ) -> ActionError | None:
        """Why the request may not go on (None when it may)."""
        if self.mode == "open":
            return None
        if self.mode == "token":
            given = _digest(request.headers.get("authorization", ""))
            assert self._token is not None
            return (
                None if hmac.compare_digest(given, self._token) else Unauthorized("A valid token is required")
            )
        assert self._guard is not None
        return await self._guard.admit(ctx, permission=permission, action=action)


def enqueue_refusal(spec: Action) -> ActionError | None:
    """Why ``spec`` may not be enqueued over HTTP: it must be offered over ``http`` and ``queue``."""
    allowed = spec.transports
    if allowed is not None and not {"http", "queue"} <= allowed:
        return Forbidden(f"Action {spec.name} cannot be enqueued over HTTP")
    return None
