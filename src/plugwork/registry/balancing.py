"""Load-balancing strategies: the order in which a call tries a service's instances.

A strategy returns every candidate, best first: the call goes to the first and fails over down the list.
``round_robin`` (the default) rotates a per-service counter; ``random`` shuffles; ``least_in_flight``
prefers the instance with the fewest calls from this process still running (ties rotate);  ``shard``
sends every call with the same key to the same instance while the fleet is unchanged (rendezvous hashing:
when an instance leaves, only its keys move).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from ..errors import InvalidInput
from .models import Instance


class Strategy(Protocol):
    """Orders the candidate instances of one call."""

    def order(self, service: str, candidates: Sequence[Instance], key: str | None) -> list[Instance]: ...


class RoundRobin:
    """Each call starts at the next instance of the service."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def order(self, service: str, candidates: Sequence[Instance], key: str | None) -> list[Instance]:
        counter = self._counters.get(service)
        if counter is None:
            counter = self._counters[service] = itertools.count()
        start = next(counter) % len(candidates)
        return [*candidates[start:], *candidates[:start]]


class Random:
    """A uniformly random order."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def order(self, service: str, candidates: Sequence[Instance], key: str | None) -> list[Instance]:
        shuffled = list(candidates)
        self._rng.shuffle(shuffled)
        return shuffled


class LeastInFlight:
    """Fewest calls in flight (from this process) first; ties keep the round-robin order."""

    def __init__(self, in_flight: Mapping[str, int]) -> None:
        self._in_flight = in_flight
        self._rotate = RoundRobin()

    def order(self, service: str, candidates: Sequence[Instance], key: str | None) -> list[Instance]:
        rotated = self._rotate.order(service, candidates, key)
        return sorted(rotated, key=lambda i: self._in_flight.get(i.instance_id, 0))


class Shard:
    """The same ``key`` goes to the same instance (rendezvous hashing); a call without a key is refused."""

    def order(self, service: str, candidates: Sequence[Instance], key: str | None) -> list[Instance]:
        if key is None:
            raise InvalidInput(
                "the shard strategy needs a key: remote(...).call(action, payload, key=...)",
                details=[{"field": "key", "message": "required by the shard strategy", "type": "missing"}],
            )
        return sorted(candidates, key=lambda i: _weight(key, i.instance_id), reverse=True)


def _weight(key: str, instance_id: str) -> bytes:
    return hashlib.blake2b(f"{key}\0{instance_id}".encode(), digest_size=8).digest()


STRATEGIES: dict[str, Callable[[Mapping[str, int]], Strategy]] = {
    "round_robin": lambda in_flight: RoundRobin(),
    "random": lambda in_flight: Random(),
    "least_in_flight": LeastInFlight,
    "shard": lambda in_flight: Shard(),
}
