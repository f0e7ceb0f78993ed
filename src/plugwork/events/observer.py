"""What every event action's outcome updates: counters, DLQ and ``on_error``.

It is an outcome observer of the event actions (``Action.observers``), run once the whole chain has —
after the host's rate limiter, circuit breaker and retries — so it sees every event however it arrived
(``host.handle``, HTTP, a job, Plugboard) at no middleware frame's cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..dispatch import Invocation, Outcome
from ..errors import ErrorCode
from ..observability.logging import get_logger
from .spec import ATTEMPTS_KEY, EVENT_KEY, FAILURE_KEY, UNHANDLED_KEY

if TYPE_CHECKING:
    from .config import ModuleHostConfig
    from .metrics import HostMetrics

log = get_logger("plugwork.events")


class EventObserver:
    """Counts each event's outcome, dead-letters failures and calls the host's ``on_error``."""

    def __init__(self, config: ModuleHostConfig, metrics: HostMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.count = config.enable_metrics
        self.retries = config.retry_policy is not None

    def __call__(self, invocation: Invocation, outcome: Outcome) -> None:
        if self.count:
            self.metrics.events_dispatched += 1
        if outcome.error is None:
            if self.count:
                self.metrics.events_handled += 1
                if self.retries:
                    self._count_retries(invocation)
            return
        self._failed(invocation, outcome)

    def _count_retries(self, invocation: Invocation) -> None:
        attempts = invocation.context.extras.get(ATTEMPTS_KEY, 1)
        if attempts > 1:
            self.metrics.events_retried += attempts - 1

    def _failed(self, invocation: Invocation, outcome: Outcome) -> None:
        assert outcome.error is not None
        extras = invocation.context.extras
        code = outcome.error.code
        event = extras.get(EVENT_KEY)
        failure: tuple[Any, BaseException] | None = extras.get(FAILURE_KEY)
        m = self.metrics
        if self.count:
            self._count_retries(invocation)
        if code is ErrorCode.RATE_LIMITED and failure is None:
            m.events_rate_limited += self.count
            return
        if code is ErrorCode.CIRCUIT_OPEN and failure is None:
            m.events_circuit_broken += self.count
            return
        if UNHANDLED_KEY in extras:
            m.events_unhandled += self.count
            return
        m.events_failed += self.count
        if event is None or (failure is None and outcome.status < 500):
            # Invalid input never became an event; a module's deliberate answer (Forbidden, NotFound...)
            # would be the same on a second run: neither is dead-lettered.
            return
        error: BaseException | str = failure[1] if failure is not None else outcome.error.message
        dlq = self.config.dead_letter_queue
        if dlq is not None:
            dlq.add(event, error, extras.get(ATTEMPTS_KEY, 1))
            m.events_dead_lettered += self.count
        on_error = self.config.on_error
        if on_error is not None:
            try:
                on_error(error if isinstance(error, BaseException) else RuntimeError(error), event)
            except Exception as exc:
                log.error(
                    "on_error callback failed", event_name=event.name, error=f"{type(exc).__name__}: {exc}"
                )
