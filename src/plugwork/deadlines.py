"""Invocation deadlines at the cost of a set entry, not of an asyncio timer each.

``asyncio.timeout_at`` costs about 5 µs per use (a Timeout object, a TimerHandle pushed onto the loop's
heap, its cancellation and the heap's later clean-up) — as much as the rest of a no-op job's dispatch.
Almost every deadline ends unused (a job's default is five minutes), so one :class:`DeadlineWatch` per
event loop keeps the running invocations in a set and a single timer set for the earliest deadline it
knows. When the timer fires it cancels the tasks whose deadline passed and re-arms itself for the earliest
remaining one: one scan per firing, none per invocation.

The semantics follow ``asyncio.timeout_at``: the task is cancelled at its deadline, and the caller turns
the resulting ``CancelledError`` into a timeout with :meth:`Deadline.expired`, which also uncancels the
task (so another cancellation, such as a shutdown, still propagates).
"""

from __future__ import annotations

import asyncio
import math
import weakref

__all__ = ["Deadline", "DeadlineWatch", "deadline_watch"]


class Deadline:
    """One registered deadline: the task to cancel when ``loop.time()`` reaches ``when``."""

    __slots__ = ("__weakref__", "cancelling", "fired", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.fired = False
        self.cancelling = task.cancelling()

    def expired(self) -> bool:
        """After a ``CancelledError``: True (and the task uncancelled) when this deadline caused it alone."""
        return self.fired and self.task.uncancel() <= self.cancelling

    def settle(self) -> None:
        """After a normal return: undo a cancellation this deadline requested too late to matter."""
        if self.fired:
            self.task.uncancel()


class DeadlineWatch:
    """The deadlines of one event loop (get it with :func:`deadline_watch`).

    It keeps no reference to its loop (only the loop's timers point here), so a closed loop and its
    watch are freed together.
    """

    def __init__(self) -> None:
        self._entries: set[Deadline] = set()
        self._armed_at = math.inf
        self._generation = 0  # a timer armed earlier than the current one fires and finds itself stale

    def add(self, task: asyncio.Task[object], when: float) -> Deadline:
        """Cancel ``task`` at loop time ``when`` unless :meth:`discard` comes first (call in its loop)."""
        entry = Deadline(task, when)
        self._entries.add(entry)
        if when < self._armed_at:
            self._arm(asyncio.get_running_loop(), when)
        return entry

    def discard(self, entry: Deadline) -> None:
        """Forget ``entry`` (its invocation ended). The timer stays: it re-arms lazily when it fires."""
        self._entries.discard(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._generation += 1
        self._armed_at = when
        loop.call_at(when, self._fire, loop, self._generation)

    def _fire(self, loop: asyncio.AbstractEventLoop, generation: int) -> None:
        if generation != self._generation:
            return  # superseded by an earlier deadline, which armed its own timer
        self._armed_at = math.inf
        now = loop.time()
        due = [entry for entry in self._entries if entry.when <= now]
        for entry in due:
            self._entries.discard(entry)
            entry.fired = True
            entry.task.cancel()
        if self._entries:
            self._arm(loop, min(entry.when for entry in self._entries))


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineWatch] = weakref.WeakKeyDictionary()
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], DeadlineWatch] | None = None


def deadline_watch(loop: asyncio.AbstractEventLoop) -> DeadlineWatch:
    """The :class:`DeadlineWatch` of ``loop`` (created on first use, dropped with the loop)."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = DeadlineWatch()
    _last = (weakref.ref(loop), watch)
    return watch
