"""Ending what a deleted token, service or account authorised, on every hub.

A consumer socket stays authorised by the token it connected with, and a producer by its account, only as
long as those records exist. Two mechanisms, one fast and one sure:

- **Events.** The store's ``token_deleted``, ``service_deleted`` and ``account_deleted`` events reach every
  hub on the store (SQLite outbox, PostgreSQL ``NOTIFY``) within its poll interval or at once: the sockets
  of the token or service are closed (after the event is pushed to them) and the account's cached
  authentication dropped. Deletions are remembered for a while, so that a socket which authenticated just
  before the deletion but was accepted just after it is closed as soon as it starts.
- **Revalidation.** Every ``interval`` seconds (and when a backplane had to re-listen, having perhaps missed
  notifications), the hub asks the store which of its sockets' tokens and cached accounts are still valid,
  and ends the rest. This also ends sockets whose token expired while they were connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Hub
    from .sockets import ConsumerSocket

log = logging.getLogger(__name__)

REMEMBER_SECONDS = 300.0  # longer than any handshake: each of its awaits is bounded by a store timeout
MAX_REMEMBERED = 10_000
REVOKED_CLOSE_CODE = 1008  # policy violation: the credentials of this socket are gone
TOKEN_DELETED = "the service token was deleted"
TOKEN_INVALID = "the service token is no longer valid (deleted or expired)"
SERVICE_DELETED = "the service was deleted"


class Revocations:
    """Closes this hub's sockets and forgets its cached producers when their credentials go away."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._gone: dict[tuple[str, str], float] = {}  # ("token" | "service", id) -> when it was deleted

    # -- events ----------------------------------------------------------------------------------------------

    def token_deleted(self, token_id: str) -> None:
        self._remember("token", token_id)
        self._close(lambda socket: socket.token.id == token_id, TOKEN_DELETED)

    def service_deleted(self, service: dict[str, Any]) -> None:
        service_id = service["id"]
        self._remember("service", service_id)
        for socket in list(self.hub.connections):
            if socket.service_id == service_id:
                # Joined sockets learn why first (Vera's consumer stops for good on it), then all are closed.
                self.hub.spawn(socket.push_and_close("service_deleted", {"service": service}))

    def account_deleted(self, account_id: str) -> None:
        self.hub.forget_account(account_id)

    def refusal(self, socket: ConsumerSocket) -> str | None:
        """Why ``socket`` must not start (its token or service was deleted during its handshake), or None."""
        if not self._gone:
            return None
        if ("token", socket.token.id) in self._gone:
            return TOKEN_DELETED
        if ("service", socket.service_id) in self._gone:
            return SERVICE_DELETED
        return None

    def _remember(self, kind: str, key: str) -> None:
        now = time.monotonic()
        if len(self._gone) >= MAX_REMEMBERED:
            cutoff = now - REMEMBER_SECONDS
            self._gone = {k: at for k, at in self._gone.items() if at >= cutoff}
            if len(self._gone) >= MAX_REMEMBERED:  # a burst of deletions: revalidation still catches all
                self._gone.clear()
        self._gone[(kind, key)] = now

    def _close(self, doomed: Any, reason: str) -> None:
        for socket in list(self.hub.connections):
            if doomed(socket):
                self.hub.spawn(socket.close(REVOKED_CLOSE_CODE, reason))

    # -- revalidation ----------------------------------------------------------------------------------------

    async def revalidate(self) -> None:
        """Ask the store which credentials in use here still hold; end what the others authorised."""
        tokens = {socket.token.id for socket in self.hub.connections}
        if tokens:
            valid = await self.hub.store.valid_token_ids(tokens)
            self._close(lambda socket: socket.token.id not in valid, TOKEN_INVALID)
        accounts = self.hub.cached_account_ids()
        if accounts:
            existing = await self.hub.store.existing_account_ids(accounts)
            for account_id in accounts - existing:
                self.hub.forget_account(account_id)
        cutoff = time.monotonic() - REMEMBER_SECONDS
        self._gone = {k: at for k, at in self._gone.items() if at >= cutoff}

    async def run(self, interval: float) -> None:
        """Revalidate every ``interval`` seconds until cancelled; store trouble is logged and retried."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.revalidate()
            except Exception as exc:
                log.warning("plugboard hub: cannot revalidate credentials: %r", exc)
