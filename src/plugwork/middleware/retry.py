"""In-process retries with exponential backoff and full jitter, for error outcomes that may pass next time.

Only retryable codes are retried (``TIMEOUT``, ``UNAVAILABLE``, ``CIRCUIT_OPEN``, ``RATE_LIMITED``,
``INTERNAL`` — see :attr:`ErrorCode.retryable`); invalid input never is. Retries never outlive the
invocation's deadline. For durable retries across worker restarts use the job queue's ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode


def backoff_delay(attempt: int, base: float, maximum: float, multiplier: float = 2.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(maximum, base * multiplier**(attempt-1))]."""
    # The exponent is clamped so that a long run of failures (a reconnect loop) never overflows a float.
    return random.uniform(0, min(maximum, base * multiplier ** min(max(0, attempt - 1), 64)))


class Retry:
    """Run the rest of the chain up to ``max_attempts`` times while the outcome is a retryable error."""

    def __init__(
        self,
        max_attempts: int = 3,
        *,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        multiplier: float = 2.0,
        retry_on: Collection[ErrorCode] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.retry_on = frozenset(retry_on) if retry_on is not None else None

    def _should_retry(self, outcome: Outcome) -> bool:
        if outcome.error is None:
            return False
        code = outcome.error.code
        return code in self.retry_on if self.retry_on is not None else code.retryable

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = invocation.context.deadline
        attempt = 1
        while True:
            outcome = await call_next(invocation)
            if attempt >= self.max_attempts or not self._should_retry(outcome):
                return outcome
            delay = backoff_delay(attempt, self.base_delay, self.max_delay, self.multiplier)
            if deadline is not None and loop.time() + delay >= deadline:
                return outcome
            await asyncio.sleep(delay)
            attempt += 1
