"""PyModules' resilience names, each one of Plugwork's middleware (``plugwork.middleware``), not a copy.

Given to :class:`~plugwork.events.ModuleHostConfig`, they become the middleware of every event action, in
this order: rate limiter, circuit breaker, retry. They are shared by all the host's events (one bucket, one
breaker), and run on the event loop that serves the events.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode
from ..middleware import CircuitBreaker as _CircuitBreaker
from ..middleware import CircuitState, RateLimit, Retry
from ..middleware import Fallback as _Fallback
from ..observability.logging import get_logger
from .dlq import DeadLetterEntry, DeadLetterQueue
from .exceptions import CircuitBreakerOpen, RateLimitExceeded

F = TypeVar("F", bound=Callable[..., Any])
log = get_logger("plugwork.events.resilience")


class RateLimiter(RateLimit):
    """A token bucket of ``rate`` events per second, bursts up to ``burst``.

    ``block=False`` refuses an event over the rate at once (``RATE_LIMITED``; ``host.handle`` raises
    :class:`RateLimitExceeded` when exceptions propagate); ``block=True`` waits for a token, at most
    ``max_wait`` seconds and never past the invocation's deadline.
    """

    def __init__(self, rate: float, burst: float | None = None, block: bool = False, max_wait: float = 30.0):
        super().__init__(rate, burst)
        self.rate = rate
        self.burst = self.bucket.capacity
        self.block = block
        self.max_wait = max_wait

    def try_acquire(self) -> bool:
        """Take a token if one is available; never waits."""
        return self.bucket.try_acquire()

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        if not self.block:
            return await super().__call__(invocation, call_next)
        if not self.bucket.try_acquire():
            loop = asyncio.get_running_loop()
            limit = loop.time() + self.max_wait
            deadline = invocation.context.deadline
            if deadline is not None:
                limit = min(limit, deadline)
            while not self.bucket.try_acquire():
                wait = self.bucket.retry_after()
                if loop.time() + wait > limit:
                    return _limited(invocation, wait)
                await asyncio.sleep(wait)
        return await call_next(invocation)


def _limited(invocation: Invocation, wait: float) -> Outcome:
    return Outcome.failure(
        ErrorCode.RATE_LIMITED,
        f"Rate limit exceeded for {invocation.action}",
        details={"retry_after": round(wait, 3)},
    )


class CircuitBreaker(_CircuitBreaker):
    """CLOSED → OPEN after ``failure_threshold`` failures → HALF_OPEN after ``recovery_timeout`` seconds →
    CLOSED after ``success_threshold`` successes (Plugwork's circuit breaker middleware)."""


class RetryPolicy(Retry):
    """Retry a failed event up to ``max_retries`` more times, with full-jitter exponential backoff.

    The delay before retry *n* is uniform in ``[0, min(max_delay, base_delay * exponential_base**(n-1))]``;
    only retryable failures (a module raising, timeouts, unavailability) are retried, never invalid input,
    and never past the invocation's deadline.
    """

    def __init__(
        self,
        max_retries: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        exponential_base: float = 2.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        super().__init__(
            max_retries + 1, base_delay=base_delay, max_delay=max_delay, multiplier=exponential_base
        )
        self.max_retries = max_retries
        self.exponential_base = exponential_base


class Fallback(_Fallback):
    """Graceful degradation: ``default_value`` instead of a failure.

    As middleware (an action's or event's), retryable error outcomes become ``default_value``. As a
    decorator on a function (sync or async), an exception returns ``default_value`` instead (logged when
    ``log_errors``).
    """

    def __init__(self, default_value: Any = None, log_errors: bool = True, **options: Any) -> None:
        super().__init__(default_value, log_errors=log_errors, **options)
        self.default_value = default_value

    def __call__(self, *args: Any) -> Any:
        if len(args) == 2 and isinstance(args[0], Invocation):
            return super().__call__(args[0], args[1])
        if len(args) == 1 and callable(args[0]):
            return self.wrap(args[0])
        raise TypeError("Fallback is called as middleware (invocation, call_next) or as a decorator")

    def wrap(self, fn: F) -> F:
        """``fn`` returning ``default_value`` instead of raising."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*a: Any, **kw: Any) -> Any:
                try:
                    return await fn(*a, **kw)
                except Exception as exc:
                    self._log(fn, exc)
                    return self.default_value

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*a: Any, **kw: Any) -> Any:
            try:
                return fn(*a, **kw)
            except Exception as exc:
                self._log(fn, exc)
                return self.default_value

        return run  # type: ignore[return-value]

    def _log(self, fn: Callable[..., Any], exc: Exception) -> None:
        if self.log_errors:
            log.warning("falling back", function=fn.__qualname__, error=f"{type(exc).__name__}: {exc}")


__all__ = [
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "CircuitState",
    "DeadLetterEntry",
    "DeadLetterQueue",
    "Fallback",
    "RateLimitExceeded",
    "RateLimiter",
    "RetryPolicy",
]
