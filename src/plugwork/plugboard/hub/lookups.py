"""Store look-ups cached on the hub's request path: one look-up for concurrent misses, refreshed ahead.

Every producer request needs its account and its service; both are cached for ``auth_cache_ttl`` seconds so
that the request path does not touch the store. An entry that simply expired sent every request in flight
to the store at once — fifty producers sharing one token made fifty look-ups, queued on the store's one
connection: a stall of 100 to 300 ms for all of them (measured under bench/plugboard.py). Here concurrent
misses of one key share a single look-up, and a hit in the second half of an entry's life refreshes it in
the background, so that a key in steady use never expires. A refresh that fails leaves the entry to expire
(the next request then asks the store itself, and hears its error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
log = logging.getLogger(__name__)


class CachedLookups(Generic[V]):
    """``lookup(arg)`` results by key, kept ``ttl`` seconds (None results are not kept).

    The key names what is looked up (a secret's digest, never the secret); ``arg`` is what the store needs,
    passed at each :meth:`get` and never stored. :meth:`forget` drops entries at once, and a look-up that
    was under way then does not bring them back.
    """

    def __init__(
        self,
        lookup: Callable[[Any], Awaitable[V | None]],
        ttl: float,
        *,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._entries: dict[str, tuple[V, float]] = {}
        self._inflight: dict[str, asyncio.Task[V | None]] = {}  # the look-up a new request shares
        self._tasks: set[asyncio.Task[V | None]] = set()  # every look-up under way
        self._generation = 0

    async def get(self, key: str, arg: Any) -> V | None:
        """The cached value, or the store's answer (shared with every request asking for it now)."""
        entry = self._entries.get(key)
        if entry is not None:
            value, until = entry
            left = until - self._clock()
            if left > 0:
                if left < self._ttl / 2 and key not in self._inflight:
                    self._start(key, arg)  # refresh ahead; this request does not wait for it
                return value
        task = self._inflight.get(key) or self._start(key, arg)
        return await asyncio.shield(task)  # a request that goes away does not cancel the others' look-up

    def forget(self, matches: Callable[[V], bool]) -> None:
        """Drop the entries whose value ``matches``; look-ups under way are not kept or shared either."""
        self._generation += 1
        self._inflight.clear()  # they may have started before the change: later requests ask anew
        for key, (value, _) in list(self._entries.items()):
            if matches(value):
                del self._entries[key]

    def drop(self, key: str) -> None:
        """Drop one entry (a look-up of it under way is neither kept nor shared)."""
        self._generation += 1
        self._inflight.pop(key, None)
        self._entries.pop(key, None)

    def values(self) -> list[V]:
        """The values cached now."""
        return [value for value, _ in self._entries.values()]

    async def close(self) -> None:
        """Cancel the look-ups under way (the hub is stopping)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, key: str, arg: Any) -> asyncio.Task[V | None]:
        task = asyncio.create_task(self._fetch(key, arg, self._generation))
        self._inflight[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def _fetch(self, key: str, arg: Any, generation: int) -> V | None:
        value = await self._lookup(arg)
        if generation != self._generation:  # forgotten meanwhile: answer this once, keep nothing
            return value
        if value is None:
            self._entries.pop(key, None)
        else:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[key] = (value, self._clock() + self._ttl)
        return value

    def _finished(self, key: str, task: asyncio.Task[V | None]) -> None:
        self._tasks.discard(task)
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is not None:
            # Whoever waited has the error; a refresh nobody waited for leaves the entry to expire.
            log.debug("plugboard hub: store look-up failed: %r", task.exception())
