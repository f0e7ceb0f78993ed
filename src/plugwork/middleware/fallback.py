"""Fallback (graceful degradation): answer with a default when the action fails in a retryable way."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from ..dispatch import CallNext, Invocation, Outcome
from ..errors import ErrorCode
from ..observability.logging import get_logger

log = get_logger("plugwork.fallback")


class Fallback:
    """Replace error outcomes with ``value`` (or ``factory(invocation, outcome)``'s result).

    By default only retryable failures (internal errors, timeouts, unavailability) fall back: invalid input
    is still reported as such. ``log_errors=False`` falls back without the warning line.
    """

    def __init__(
        self,
        value: Any = None,
        *,
        factory: Callable[[Invocation, Outcome], Any | Awaitable[Any]] | None = None,
        on: Collection[ErrorCode] | None = None,
        log_errors: bool = True,
    ) -> None:
        self.value = value
        self.log_errors = log_errors
        self.factory = factory
        self.on = frozenset(on) if on is not None else None

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        outcome = await call_next(invocation)
        error = outcome.error
        if error is None or not (error.code in self.on if self.on is not None else error.code.retryable):
            return outcome
        if self.log_errors:
            log.warning(
                "falling back", action=invocation.action, error_code=error.code.value, error=error.message
            )
        if self.factory is None:
            return Outcome.success(self.value)
        value = self.factory(invocation, outcome)
        if inspect.isawaitable(value):
            value = await value
        return Outcome.success(value)
