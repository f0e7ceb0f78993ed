"""Circuit breaker: stop calling what keeps failing, try again after a pause.

``CLOSED`` → (``failure_threshold`` consecutive failures) → ``OPEN`` → (``recovery_timeout`` seconds) →
``HALF_OPEN`` → (``success_threshold`` successes) → ``CLOSED``; any failure while half-open opens it again.
Usable as middleware (failures are error outcomes with a status of 500 or more) or by hand, with the
usvc-lib API: ``can_execute()``, ``record_success()``, ``record_failure()``.
"""

from __future__ import annotations

import time
from enum import StrEnum

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode


class CircuitState(StrEnum):
    """The breaker's three states (see the module docstring for the transitions)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A three-state circuit breaker; one event loop owns it."""

    def __init__(
        self, failure_threshold: int = 5, recovery_timeout: float = 30.0, success_threshold: int = 2
    ) -> None:
        if failure_threshold < 1 or success_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.success_threshold = success_threshold
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0

    @property
    def state(self) -> CircuitState:
        """The current state; an open breaker turns half-open once ``recovery_timeout`` has passed."""
        if self._state is CircuitState.OPEN and time.monotonic() - self._opened_at >= self.recovery_timeout:
            self._state, self._successes = CircuitState.HALF_OPEN, 0
        return self._state

    def can_execute(self) -> bool:
        """Whether a call may go through now (the breaker is not open)."""
        return self.state is not CircuitState.OPEN

    def record_success(self) -> None:
        """Count a success: closes a half-open breaker after ``success_threshold`` of them."""
        if self.state is CircuitState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self.success_threshold:
                self._state, self._failures = CircuitState.CLOSED, 0
        else:
            self._failures = 0

    def record_failure(self) -> None:
        """Count a failure: opens the breaker at ``failure_threshold``, or at once when half-open."""
        if self.state is CircuitState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self._state, self._opened_at, self._failures = CircuitState.OPEN, time.monotonic(), 0

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial call through."""
        return max(0.0, self.recovery_timeout - (time.monotonic() - self._opened_at))

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        if not self.can_execute():
            return Outcome.failure(
                ErrorCode.CIRCUIT_OPEN,
                f"Circuit open for {invocation.action}",
                details={"retry_after": round(self.retry_after(), 3)},
            )
        outcome = await call_next(invocation)
        if outcome.error is not None and outcome.status >= 500:
            self.record_failure()
        else:
            self.record_success()
        return outcome
