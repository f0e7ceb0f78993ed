"""Cross-cutting concerns, one middleware per module: ``async (invocation, call_next) -> Outcome``."""

from .rate_limit import RateLimit, TokenBucket
from .timeout import Timeout

__all__ = ["RateLimit", "Timeout", "TokenBucket"]
