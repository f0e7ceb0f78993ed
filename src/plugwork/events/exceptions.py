"""The events errors, under Plugwork's one root (``plugwork.errors.PlugworkError``).

::

    PlugworkError
    ├── ActionError
    │   ├── RateLimited ── RateLimitExceeded      the host's rate limiter refused an event
    │   ├── CircuitOpen ── CircuitBreakerOpen     the host's circuit breaker is open
    │   └── EventUnhandledError                    404 NOT_FOUND: no module handled the event
    └── EventError                                 root of the errors below
        ├── EventHandlingError                     a module raised while handling an event
        └── ModuleRegistrationError                a module could not be registered
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ActionError, CircuitOpen, ErrorCode, PlugworkError, RateLimited

if TYPE_CHECKING:
    from .event import Event
    from .module import Module


class EventError(PlugworkError):
    """Root of the events errors."""


class EventHandlingError(EventError):
    """A module failed on an event: ``event``, ``module`` and ``original_error`` say which, and why."""

    def __init__(self, event: Event[Any, Any], module: Module | None, original_error: BaseException) -> None:
        who = module.metadata.name if module is not None else "?"
        reason = f"{type(original_error).__name__}: {original_error}"
        super().__init__(f"module {who!r} failed on event {event.name!r}: {reason}")
        self.event = event
        self.module = module
        self.original_error = original_error


class EventUnhandledError(ActionError):
    """No registered module handled the event: a ``NOT_FOUND`` outcome (404 over HTTP)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, event: Event[Any, Any]) -> None:
        super().__init__(f"No module handled event {event.name}", details={"event": event.name})
        self.event = event


class ModuleRegistrationError(EventError):
    """A module cannot be registered (a second module with the same name, or not a Module)."""


class RateLimitExceeded(RateLimited):
    """The host's rate limiter refused the event."""


class CircuitBreakerOpen(CircuitOpen):
    """The host's circuit breaker is open."""


__all__ = [
    "CircuitBreakerOpen",
    "EventError",
    "EventHandlingError",
    "EventUnhandledError",
    "ModuleRegistrationError",
    "RateLimitExceeded",
]
