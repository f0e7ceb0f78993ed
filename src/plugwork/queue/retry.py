"""Exponential backoff with jitter, for job retries and for reconnecting to a store."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``base * 2**(attempt-1)`` seconds capped at ``cap``, with "equal jitter": half fixed, half random.

    Jitter spreads the retries of jobs that failed together (say, while a dependency was down) so they do
    not all come back at the same instant.
    """

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.cap, self.base * (2.0 ** min(max(attempt, 1) - 1, 62)))
        return raw / 2 + random.uniform(0, raw / 2)


class Backoff:
    """Growing waits between reconnection attempts; ``reset()`` after a success."""

    def __init__(self, base: float = 0.05, cap: float = 5.0) -> None:
        self._policy = RetryPolicy(base, cap)
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        self.failures += 1
        return self._policy.delay(self.failures)

    def reset(self) -> None:
        """Start again from the shortest wait (after a success)."""
        self.failures = 0
