"""The backplane: how a hub hears about changes and consumers it does not hold itself.

:class:`Backplane` is the protocol; :class:`LocalBackplane` serves a hub alone on an SQLite store (it polls
the store's event outbox, so changes made by the CLI still reach connected consumers). The PostgreSQL one,
which lets several hubs act as one, is :mod:`.pgbackplane`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from .router import Answer
from .sqlite import SQLiteHubStore

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)


class Backplane(Protocol):
    """What a hub needs from its peers: a consumer registry, forwarded responses, change events."""

    async def start(self) -> None:
        """Begin hearing events (and register this hub)."""

    async def stop(self) -> None:
        """Stop, and withdraw this hub's consumers from the registry."""

    async def register(self, consumer_id: str, service_id: str, actions: str) -> None:
        """Announce a consumer joined on this hub."""

    async def unregister(self, consumer_id: str) -> None:
        """Announce a consumer of this hub left."""

    async def remote_actions(self, service_id: str) -> set[str]:
        """The actions maps declared by the service's consumers on other hubs."""

    async def forward_response(self, hub_id: str, consumer_id: str, ref: str, answer: Answer) -> None:
        """Send the answer of a consumer here to the hub whose producer is waiting for it."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the backplane works, with details."""


class LocalBackplane:
    """A single hub: no peers; store events are polled from the SQLite outbox every ``poll_interval``."""

    PRUNE_EVERY = 200  # polls

    def __init__(self, hub: Hub, store: SQLiteHubStore, *, poll_interval: float = 0.25) -> None:
        self.hub = hub
        self.store = store
        self.poll_interval = poll_interval
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None

    async def start(self) -> None:
        self._last_id = await self.store.last_event_id()
        self._task = asyncio.create_task(self._poll(), name="plugboard-hub-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self.poll_interval)
            polls += 1
            try:
                events = await self.store.events_after(self._last_id)
                if polls % self.PRUNE_EVERY == 0:
                    await self.store.prune_events()
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                log.warning("plugboard hub: cannot read store events: %s", self._error)
                continue
            self._error = None
            for event_id, event in events:
                self._last_id = event_id
                self.hub.apply_event(event)

    async def register(self, consumer_id: str, service_id: str, actions: str) -> None:
        return None

    async def unregister(self, consumer_id: str) -> None:
        return None

    async def remote_actions(self, service_id: str) -> set[str]:
        return set()

    async def forward_response(self, hub_id: str, consumer_id: str, ref: str, answer: Answer) -> None:
        raise RuntimeError("a hub alone has no peer to forward a response to")

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self._error is None, {"kind": "local", **({"error": self._error} if self._error else {})}
