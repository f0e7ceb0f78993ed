"""Periodic jobs: each tick of an action's ``cron`` schedule is enqueued exactly once.

Every worker runs a :class:`CronScheduler`; they all enqueue the same ticks, and the idempotency key
``cron:<action>:<tick>`` makes the store keep exactly one job per tick, however many workers race.
A scheduler only enqueues ticks that fall after it started (missed ticks are not back-filled), at most
``max_catch_up`` per action per pass, so a stalled loop never floods the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..actions import Action
from .jobs import DEFAULT_MAX_ATTEMPTS, NewJob
from .store import JobStore

if TYPE_CHECKING:
    from croniter import croniter as Croniter


def _croniter(schedule: str, start: datetime) -> Croniter:
    # Imported when a schedule exists: croniter and dateutil cost 1.5 MB in every worker otherwise.
    from croniter import croniter

    return croniter(schedule, start)


class CronScheduler:
    """Enqueues the due ticks of every action that has a ``cron`` schedule."""

    def __init__(
        self,
        store: JobStore,
        actions: Mapping[str, Action],
        *,
        clock: Callable[[], float] = time.time,
        max_catch_up: int = 10,
        max_sleep: float = 30.0,
    ) -> None:
        self._store = store
        self._specs = {name: spec for name, spec in actions.items() if spec.cron}
        self._schedules = {name: spec.cron for name, spec in actions.items() if spec.cron}
        self._clock = clock
        self._last = clock()
        self._max_catch_up = max_catch_up
        self._max_sleep = max_sleep

    def start(self, now: float | None = None) -> None:
        """Consider only ticks after ``now`` (default: the clock's now); called when a worker starts."""
        self._last = self._clock() if now is None else now

    @property
    def active(self) -> bool:
        """Whether any action has a schedule."""
        return bool(self._specs)

    def due(self, since: float, until: float) -> list[NewJob]:
        """The jobs of every tick in ``(since, until]``."""
        jobs = []
        for name, spec in self._specs.items():
            it = _croniter(self._schedules[name], datetime.fromtimestamp(since, UTC))
            for _ in range(self._max_catch_up):
                tick = it.get_next(float)
                if tick > until:
                    break
                jobs.append(
                    NewJob(
                        action=name,
                        payload="{}",
                        queue=spec.queue,
                        run_at=tick,
                        max_attempts=spec.max_attempts or DEFAULT_MAX_ATTEMPTS,
                        idempotency_key=f"cron:{name}:{int(tick)}",
                    )
                )
        return jobs

    async def enqueue_due(self, now: float | None = None) -> int:
        """Enqueue the ticks since the last pass; return how many jobs were offered to the store."""
        now = self._clock() if now is None else now
        jobs = self.due(self._last, now)
        if jobs:
            await self._store.enqueue(jobs)
        self._last = now
        return len(jobs)

    def seconds_to_next_tick(self, now: float | None = None) -> float:
        """How long until the next tick of any schedule (at most ``max_sleep``)."""
        now = self._clock() if now is None else now
        start = datetime.fromtimestamp(now, UTC)
        nxt = min(
            (_croniter(cron, start).get_next(float) for cron in self._schedules.values()),
            default=now + self._max_sleep,
        )
        return max(0.0, min(self._max_sleep, nxt - now))
