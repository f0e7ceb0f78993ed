"""The host's configuration, in code or from ``PYMODULES_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import ConfigError
from .dlq import DeadLetterQueue
from .resilience import CircuitBreaker, RateLimiter, RetryPolicy

if TYPE_CHECKING:
    from .event import Event

ENV_PREFIX = "PYMODULES_"


@dataclass
class ModuleHostConfig:
    """How a :class:`~plugwork.events.ModuleHost` runs events.

    ``max_workers`` bounds the thread pool that runs sync module handlers (and ``max_pending`` the handlers
    waiting for it: beyond, an event answers ``UNAVAILABLE``). ``propagate_exceptions`` makes
    ``host.handle``/``handle_async`` raise (:class:`EventHandlingError` for a module failure) instead of
    returning the error outcome. ``timeout`` bounds each event (seconds; None, the default, leaves events
    unbounded like actions, within an App its ``action_timeout_seconds``); the sync ``host.handle`` always
    waits at most ``timeout`` + 1 s (``sync_wait`` when ``timeout`` is None). ``log_level``, when set,
    configures Plugwork's logging at that level when the host is created.
    """

    max_workers: int = 4
    propagate_exceptions: bool = True
    enable_metrics: bool = True
    enable_tracing: bool = True
    rate_limiter: RateLimiter | None = None
    circuit_breaker: CircuitBreaker | None = None
    retry_policy: RetryPolicy | None = None
    dead_letter_queue: DeadLetterQueue | None = None
    on_error: Callable[[BaseException, Event[Any, Any]], Any] | None = None
    timeout: float | None = None
    sync_wait: float = 60.0
    max_pending: int = 1000
    log_level: str | None = None

    def __post_init__(self) -> None:
        if self.max_workers < 1 or self.max_pending < 0 or self.sync_wait <= 0:
            raise ValueError("max_workers must be >= 1, max_pending >= 0 and sync_wait > 0")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be > 0 (or None)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ModuleHostConfig:
        """Read ``PYMODULES_*`` variables (see docs/events.md); a bad value raises ``ConfigError``."""
        env = os.environ if environ is None else environ
        raw = {
            name: env[ENV_PREFIX + name.upper()]
            for name in _EnvConfig.model_fields
            if env.get(ENV_PREFIX + name.upper(), "").strip()
        }
        try:
            values = _EnvConfig.model_validate(raw)
        except ValidationError as exc:
            problems = [
                (ENV_PREFIX + str(err["loc"][0]).upper(), err["msg"]) for err in exc.errors(include_url=False)
            ]
            message = "; ".join(f"{key}: {msg}" for key, msg in problems[1:])
            raise ConfigError(
                problems[0][1] + (f"; {message}" if message else ""), key=problems[0][0]
            ) from None
        burst = values.rate_limit_burst
        kwargs: dict[str, Any] = {
            "max_workers": values.max_workers,
            "propagate_exceptions": values.propagate_exceptions,
            "enable_metrics": values.enable_metrics,
            "enable_tracing": values.enable_tracing,
            "timeout": values.timeout,
            "log_level": values.log_level,
            "rate_limiter": RateLimiter(values.rate_limit, burst) if values.rate_limit else None,
            "circuit_breaker": CircuitBreaker(
                values.circuit_breaker_threshold, values.circuit_breaker_timeout
            )
            if values.circuit_breaker_threshold
            else None,
            "retry_policy": RetryPolicy(values.retry_max, values.retry_base_delay, values.retry_max_delay)
            if values.retry_max
            else None,
            "dead_letter_queue": DeadLetterQueue(values.dlq_size) if values.dlq_size else None,
        }
        return cls(**{**kwargs, **overrides})


class _EnvConfig(BaseModel):
    """The variables :meth:`ModuleHostConfig.from_env` reads, each ``PYMODULES_`` + the name upper-cased."""

    max_workers: int = Field(4, ge=1, le=1024)
    propagate_exceptions: bool = True
    log_level: str | None = Field(None, pattern=r"(?i)^(debug|info|warning|error|critical)$")
    enable_metrics: bool = True
    enable_tracing: bool = True
    timeout: float | None = Field(None, gt=0)
    rate_limit: float | None = Field(None, gt=0)
    rate_limit_burst: float | None = Field(None, gt=0)
    circuit_breaker_threshold: int | None = Field(None, ge=1)
    circuit_breaker_timeout: float = Field(30.0, gt=0)
    retry_max: int | None = Field(None, ge=0, le=100)
    retry_base_delay: float = Field(1.0, ge=0)
    retry_max_delay: float = Field(60.0, ge=0)
    dlq_size: int | None = Field(None, ge=1)
