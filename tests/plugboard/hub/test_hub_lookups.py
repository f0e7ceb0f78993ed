"""The hub's cached store look-ups: one look-up for concurrent misses, refresh ahead, forgetting."""

from __future__ import annotations

import asyncio

import pytest

from plugwork.plugboard.hub.lookups import CachedLookups


class Store:
    """Answers look-ups when released; counts them."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: str | None = "account-1"
        self.error: Exception | None = None
        self.release = asyncio.Event()
        self.release.set()

    async def lookup(self, secret: str) -> str | None:
        self.calls += 1
        answer = self.answer  # what the store holds when the look-up starts
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(store: Store, clock: Clock, ttl: float = 10.0) -> CachedLookups[str]:
    return CachedLookups(store.lookup, ttl, clock=clock)


async def test_concurrent_misses_share_one_look_up() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    store.release.clear()
    waiting = [asyncio.create_task(lookups.get("digest", "secret")) for _ in range(50)]
    await asyncio.sleep(0)
    store.release.set()
    assert await asyncio.gather(*waiting) == ["account-1"] * 50
    assert store.calls == 1
    assert await lookups.get("digest", "secret") == "account-1" and store.calls == 1  # cached


async def test_a_hit_late_in_its_life_refreshes_in_the_background_and_never_expires_in_use() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    await lookups.get("digest", "secret")
    clock.now += 4  # first half of its life: a plain hit
    await lookups.get("digest", "secret")
    assert store.calls == 1
    clock.now += 2  # second half: answered from the cache, and refreshed meanwhile
    store.release.clear()
    assert await lookups.get("digest", "secret") == "account-1"
    assert await lookups.get("digest", "secret") == "account-1"  # one refresh at a time
    store.release.set()
    await asyncio.sleep(0)
    assert store.calls == 2
    clock.now += 9  # past the first entry's expiry, within the refreshed one's
    assert await lookups.get("digest", "secret") == "account-1" and store.calls == 2


async def test_an_expired_entry_is_looked_up_again_and_none_is_not_kept() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    await lookups.get("digest", "secret")
    clock.now += 11
    store.answer = None  # the account was deleted
    assert await lookups.get("digest", "secret") is None
    assert await lookups.get("digest", "secret") is None
    assert store.calls == 3 and lookups.values() == []


async def test_a_failed_look_up_reaches_every_waiter_and_keeps_nothing() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    store.release.clear()
    store.error = ConnectionError("store down")
    waiting = [asyncio.create_task(lookups.get("digest", "secret")) for _ in range(3)]
    await asyncio.sleep(0)
    store.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and store.calls == 1
    store.error = None
    assert await lookups.get("digest", "secret") == "account-1"


async def test_forgetting_drops_entries_and_a_look_up_under_way_does_not_bring_them_back() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    await lookups.get("digest", "secret")
    clock.now += 6
    store.release.clear()
    await lookups.get("digest", "secret")  # starts a refresh, which is under way...
    store.answer = None
    lookups.forget(lambda account_id: account_id == "account-1")  # ...when the account is deleted
    assert lookups.values() == []
    asked = asyncio.create_task(lookups.get("digest", "secret"))
    await asyncio.sleep(0)
    store.release.set()
    assert await asked is None  # asked anew, not answered by the older look-up
    for _ in range(3):
        await asyncio.sleep(0)
    assert lookups.values() == [] and store.calls == 3  # the older look-up ended and kept nothing


async def test_a_waiter_that_goes_away_does_not_cancel_the_look_up_of_the_others() -> None:
    store, clock = Store(), Clock()
    lookups = cache(store, clock)
    store.release.clear()
    first = asyncio.create_task(lookups.get("digest", "secret"))
    second = asyncio.create_task(lookups.get("digest", "secret"))
    await asyncio.sleep(0)
    first.cancel()
    store.release.set()
    assert await second == "account-1"
    with pytest.raises(asyncio.CancelledError):
        await first
