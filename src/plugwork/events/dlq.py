"""The dead-letter queue for in-process events: bounded, oldest dropped (and counted), reprocessable.

Events that ran as durable jobs have their own dead-letter queue: the job queue's ``dead`` jobs (``plugwork
jobs list --status dead``, ``plugwork jobs retry``). This one holds the events handled in this process
(``host.handle``/``handle_async``, and events served over HTTP or Plugboard) whose module failed.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..observability.logging import get_logger
from .event import Event

log = get_logger("plugwork.events.dlq")


@dataclass(slots=True)
class DeadLetterEntry:
    """One failed event: the event, the error, when it failed (epoch seconds) and how many attempts ran."""

    event: Event[Any, Any]
    error: BaseException | str
    timestamp: float
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (the error as its type and message)."""
        err = self.error
        return {
            "event": self.event.name,
            "error": err if isinstance(err, str) else f"{type(err).__name__}: {err}",
            "timestamp": self.timestamp,
            "attempts": self.attempts,
            "correlation_id": self.event.meta.get("correlation_id"),
        }


class DeadLetterQueue:
    """At most ``max_size`` failed events; adding to a full queue drops the oldest and counts it."""

    def __init__(self, max_size: int = 1000) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.dropped = 0
        self._entries: deque[DeadLetterEntry] = deque()
        self._lock = threading.Lock()  # sync callers add and reprocess from other threads than the loop's
        self._reprocessing: set[int] = set()

    def add(self, event: Event[Any, Any], error: BaseException | str, attempts: int = 1) -> None:
        """Keep a failed event (ignored while that very event is being reprocessed: reprocess re-adds it)."""
        with self._lock:
            if id(event) in self._reprocessing:
                return
            if len(self._entries) >= self.max_size:
                self._entries.popleft()
                self.dropped += 1
            self._entries.append(DeadLetterEntry(event, error, time.time(), attempts))

    @property
    def entries(self) -> list[DeadLetterEntry]:
        """The entries, oldest first (a copy)."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _take(self) -> list[DeadLetterEntry]:
        with self._lock:
            taken = list(self._entries)
            self._entries.clear()
            self._reprocessing.update(id(e.event) for e in taken)
            return taken

    def _settle(self, entry: DeadLetterEntry, error: BaseException | str | None) -> bool:
        with self._lock:
            self._reprocessing.discard(id(entry.event))
        if error is None:
            return True
        self.add(entry.event, error, entry.attempts + 1)
        return False

    def reprocess(self, handler: Callable[[Event[Any, Any]], Any]) -> tuple[int, int]:
        """Run every entry through ``handler`` (e.g. ``host.handle``); return ``(successful, failed)``.

        An entry fails when the handler raises or returns an error outcome; failed entries go back in the
        queue with one more attempt, successful ones leave it.
        """
        ok = failed = 0
        for entry in self._take():
            if self._settle(entry, _failure(entry, handler)):
                ok += 1
            else:
                failed += 1
        return ok, failed

    async def reprocess_async(self, handler: Callable[[Event[Any, Any]], Awaitable[Any]]) -> tuple[int, int]:
        """:meth:`reprocess` with an async handler (e.g. ``host.handle_async``)."""
        ok = failed = 0
        for entry in self._take():
            error: BaseException | str | None
            try:
                error = _error_of(await handler(entry.event))
            except Exception as exc:
                error = exc
            if self._settle(entry, error):
                ok += 1
            else:
                failed += 1
        return ok, failed


def _failure(entry: DeadLetterEntry, handler: Callable[[Event[Any, Any]], Any]) -> BaseException | str | None:
    try:
        result = handler(entry.event)
        if inspect.isawaitable(result):
            raise TypeError("reprocess() needs a sync handler: use reprocess_async for handle_async")
    except Exception as exc:
        return exc
    return _error_of(result)


def _error_of(result: Any) -> str | None:
    """The error of an Outcome-like result (``result.error``), or of a not-handled event."""
    error = getattr(result, "error", None)
    if error is not None:
        return str(getattr(error, "message", error))
    return None
