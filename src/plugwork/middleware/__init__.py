"""Cross-cutting concerns, one middleware per module: ``async (invocation, call_next) -> Outcome``.

Install app-wide with ``App(middleware=[...])`` or per action with ``@action(..., middleware=[...])``.
"""

from .bulkhead import Bulkhead
from .circuit_breaker import CircuitBreaker, CircuitState
from .fallback import Fallback
from .rate_limit import RateLimit, TokenBucket
from .retry import Retry, backoff_delay
from .timeout import Timeout

__all__ = [
    "Bulkhead",
    "CircuitBreaker",
    "CircuitState",
    "Fallback",
    "RateLimit",
    "Retry",
    "Timeout",
    "TokenBucket",
    "backoff_delay",
]
