"""Per-action timeouts: the invocation is cancelled at the deadline and answers ``TIMEOUT`` (504)."""

from __future__ import annotations

import asyncio

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode


class Timeout:
    """Bound every invocation of the action to ``seconds``."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("timeout must be positive")
        self.seconds = seconds

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        try:
            async with asyncio.timeout(self.seconds):
                return await call_next(invocation)
        except TimeoutError:
            return Outcome.failure(
                ErrorCode.TIMEOUT, f"Action {invocation.action} timed out after {self.seconds:g}s"
            )
