"""The balancing strategies on their own: the order in which a call tries instances."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from registry_helpers import instance_at

from plugwork.errors import InvalidInput
from plugwork.registry.balancing import LeastInFlight, Random, RoundRobin, Shard

FLEET = [instance_at(f"http://h{i}:1", f"i{i}") for i in range(4)]


def test_round_robin_rotates_per_service_and_keeps_every_instance_for_failover() -> None:
    rr = RoundRobin()
    firsts = [rr.order("billing", FLEET, None)[0].instance_id for _ in range(8)]
    assert firsts == ["i0", "i1", "i2", "i3"] * 2
    assert [i.instance_id for i in rr.order("billing", FLEET, None)] == ["i0", "i1", "i2", "i3"]
    assert rr.order("audit", FLEET, None)[0].instance_id == "i0"  # its own counter


def test_random_is_a_permutation() -> None:
    orders = [Random(random.Random(seed)).order("billing", FLEET, None) for seed in range(20)]
    assert all(sorted(o, key=lambda i: i.instance_id) == FLEET for o in orders)
    assert len({o[0].instance_id for o in orders}) > 1


def test_least_in_flight_prefers_the_least_busy() -> None:
    in_flight = {"i0": 3, "i1": 1, "i2": 0, "i3": 2}
    order = LeastInFlight(in_flight).order("billing", FLEET, None)
    assert [i.instance_id for i in order] == ["i2", "i1", "i3", "i0"]
    in_flight.clear()  # all idle: ties rotate like round robin
    strategy = LeastInFlight(in_flight)
    assert [strategy.order("billing", FLEET, None)[0].instance_id for _ in range(4)] == [
        "i0",
        "i1",
        "i2",
        "i3",
    ]


def test_shard_moves_only_the_departed_instances_keys() -> None:
    shard = Shard()
    keys = [f"customer-{n}" for n in range(400)]
    before = {k: shard.order("billing", FLEET, k)[0].instance_id for k in keys}
    assert set(Counter(before.values())) == {"i0", "i1", "i2", "i3"}
    after = {k: shard.order("billing", FLEET[:3], k)[0].instance_id for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(before[k] == "i3" for k in moved)
    with pytest.raises(InvalidInput):
        shard.order("billing", FLEET, None)
