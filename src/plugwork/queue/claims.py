"""How many jobs the worker's next claim asks for.

By default the claim size follows how fast jobs finish, not the concurrency limit: the claimer keeps about
:data:`CLAIM_HORIZON` seconds of work buffered — as many jobs as finished over the last horizon or more —
between ``concurrency`` and :data:`MAX_CLAIM` jobs per claim. No-op jobs are claimed hundreds at a time
(a claim of five jobs per runner kept the runners busy for less than a PostgreSQL round trip); one-second
jobs ``concurrency`` at a time, so a worker never hoards slow jobs that other workers could run. A fixed
``batch_size`` keeps the older rule: claims of that size, up to ``prefetch`` jobs buffered.
"""

from __future__ import annotations

__all__ = ["CLAIM_HORIZON", "MAX_CLAIM", "ClaimSize"]

CLAIM_HORIZON = 0.05
"""Seconds of work (at the recent completion rate) the adaptive claimer keeps buffered."""
MAX_CLAIM = 1000
"""Largest adaptive claim: jobs per claim statement; at most one and a half times that is buffered."""


class ClaimSize:
    """The claim size and refill point for ``concurrency`` runners: adaptive unless ``batch_size`` is given.

    ``refill_at``: the runners wake the claimer once the buffer holds this many jobs or fewer.
    """

    def __init__(self, concurrency: int, batch_size: int | None, prefetch: int | None, now: float) -> None:
        if concurrency < 1 or (batch_size is not None and batch_size < 1):
            raise ValueError("concurrency and batch_size must be at least 1")
        self.adaptive = batch_size is None
        self.concurrency = concurrency
        self.batch_size = max(MAX_CLAIM, concurrency) if batch_size is None else batch_size
        self.prefetch = max(prefetch or 2 * self.batch_size, self.batch_size, concurrency)
        if self.adaptive:
            self.want, self.refill_at = concurrency, concurrency // 2
        else:
            self.want, self.refill_at = self.batch_size, self.prefetch - self.batch_size
        self._sampled_at, self._sampled_ran = now, 0

    def limit(self, buffered: int, ran: int, now: float) -> int:
        """Jobs to claim now (0: the buffer holds enough), given ``ran`` jobs run so far at time ``now``."""
        if not self.adaptive:
            space = self.prefetch - buffered
            return min(space, self.batch_size) if space >= self.batch_size else 0
        if now - self._sampled_at >= CLAIM_HORIZON:  # over shorter spans, bursts read as rates
            rate = (ran - self._sampled_ran) / (now - self._sampled_at)
            self._sampled_at, self._sampled_ran = now, ran
            self.want = min(self.batch_size, max(self.concurrency, int(rate * CLAIM_HORIZON)))
            self.refill_at = self.want // 2
        return self.want if buffered <= self.refill_at else 0
