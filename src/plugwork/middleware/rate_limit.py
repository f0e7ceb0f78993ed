"""Rate limiting with a token bucket: over the rate, invocations answer ``RATE_LIMITED`` (429) at once."""

from __future__ import annotations

import time

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``. Not thread-safe: one event loop owns it."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if the bucket holds them (refilled for the time passed); never waits."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def retry_after(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are available."""
        return max(0.0, (tokens - self._tokens) / self.rate)


class RateLimit:
    """Refuse invocations beyond ``rate`` per second (bursts up to ``burst``)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.bucket = TokenBucket(rate, burst)

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        if not self.bucket.try_acquire():
            return Outcome.failure(
                ErrorCode.RATE_LIMITED,
                f"Rate limit exceeded for {invocation.action}",
                details={"retry_after": round(self.bucket.retry_after(), 3)},
            )
        return await call_next(invocation)
