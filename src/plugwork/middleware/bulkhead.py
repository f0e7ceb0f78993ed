"""Bulkhead: at most ``max_concurrent`` invocations at once, ``max_waiting`` queued; the rest refused."""

from __future__ import annotations

import asyncio

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode


class Bulkhead:
    """Bound concurrency, and the queue in front of it: overload answers ``UNAVAILABLE`` (503) at once."""

    def __init__(self, max_concurrent: int, max_waiting: int = 0) -> None:
        if max_concurrent < 1 or max_waiting < 0:
            raise ValueError("max_concurrent must be >= 1 and max_waiting >= 0")
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting = 0

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        if self._slots.locked():
            if self._waiting >= self.max_waiting:
                return Outcome.failure(
                    ErrorCode.UNAVAILABLE,
                    f"Too many concurrent invocations of {invocation.action}",
                    details={"max_concurrent": self.max_concurrent, "max_waiting": self.max_waiting},
                )
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            return await call_next(invocation)
        finally:
            self._slots.release()
