"""Events and modules (the PyModules model) on Plugwork's dispatcher.

An :class:`Event` type is an action: events go through the same Dispatcher and middleware chain as every
other action, and an attached host's events are served over HTTP, the job queue and Plugboard. See
docs/events.md.
"""

from .config import ModuleHostConfig
from .dlq import DeadLetterEntry, DeadLetterQueue
from .event import Event, EventInput, EventOutput
from .exceptions import (
    CircuitBreakerOpen,
    EventError,
    EventHandlingError,
    EventUnhandledError,
    ModuleRegistrationError,
    RateLimitExceeded,
)
from .host import ModuleHost
from .metrics import HostMetrics
from .module import Module, ModuleMetadata, module
from .resilience import CircuitBreaker, Fallback, RateLimiter, RetryPolicy

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "DeadLetterEntry",
    "DeadLetterQueue",
    "Event",
    "EventError",
    "EventHandlingError",
    "EventInput",
    "EventOutput",
    "EventUnhandledError",
    "Fallback",
    "HostMetrics",
    "Module",
    "ModuleHost",
    "ModuleHostConfig",
    "ModuleMetadata",
    "ModuleRegistrationError",
    "RateLimitExceeded",
    "RateLimiter",
    "RetryPolicy",
    "module",
]
