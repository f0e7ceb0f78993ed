"""The router on its own: slots, the wait queue, and queued requests sent by the answer that frees a slot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugwork.plugboard.hub.router import Answer, Consumer, HubError, Router

OK = Answer(200, None, {})


class FakeConsumer:
    """Records what the router sends; ``now`` says whether it can send without waiting."""

    def __init__(self, now: bool | None = True) -> None:
        self.now = now
        self.sent: list[tuple[str, str]] = []  # (ref, action)
        self.awaited: list[str] = []

    async def send(self, ref: str, action: str, fields: Any, headers: dict[str, str] | None) -> None:
        self.awaited.append(action)
        self.sent.append((ref, action))

    def send_now(self, ref: str, action: str, fields: Any, headers: dict[str, str] | None) -> bool:
        if self.now is None:
            raise ConnectionResetError("the socket is gone")
        if self.now:
            self.sent.append((ref, action))
        return self.now

    def consumer(self, *, direct: bool = True) -> Consumer:
        return Consumer("c1", "svc", "hub", self.send, self.send_now if direct else None)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def one_slot_calls(fake: FakeConsumer, *actions: str) -> tuple[Router, list[asyncio.Task[Answer]]]:
    """A router with one slot for ``fake``, and a producer's call of each action, in order, settled."""
    router = Router(max_outstanding=1)
    router.add(fake.consumer())
    calls = [asyncio.create_task(router.call("svc", action, {})) for action in actions]
    await settle()
    return router, calls


async def test_an_answer_sends_the_next_queued_request_before_its_producer_runs() -> None:
    fake = FakeConsumer()
    router, (first, second) = await one_slot_calls(fake, "one", "two")
    assert [action for _, action in fake.sent] == ["one"]  # "two" waits for the only slot
    assert router.resolve(fake.sent[0][0], OK, "c1")
    # sent by resolve() itself, before either producer's task has run again
    assert [action for _, action in fake.sent] == ["one", "two"]
    assert fake.awaited == []
    assert await first == OK
    assert router.resolve(fake.sent[1][0], OK, "c1")
    assert await second == OK
    assert router.in_flight == 0


async def test_a_consumer_that_cannot_send_at_once_is_awaited() -> None:
    fake = FakeConsumer(now=False)
    router, (first, second) = await one_slot_calls(fake, "one", "two")
    router.resolve(fake.sent[0][0], OK, "c1")
    await settle()
    assert fake.awaited == ["one", "two"]
    router.resolve(fake.sent[1][0], OK, "c1")
    assert [await first, await second] == [OK, OK]


async def test_a_failed_send_for_a_queued_request_answers_503() -> None:
    fake = FakeConsumer()
    router, (first, second) = await one_slot_calls(fake, "one", "two")
    fake.now = None  # the socket breaks as the slot frees
    router.resolve(fake.sent[0][0], OK, "c1")
    assert await first == OK
    with pytest.raises(HubError) as failed:
        await second
    assert failed.value.status == 503 and "the socket is gone" in failed.value.message
    assert router.consumers("svc")[0].outstanding == 0


async def test_a_queued_request_sent_as_its_producer_leaves_gives_its_slot_back() -> None:
    fake = FakeConsumer()
    router, (first, second, third) = await one_slot_calls(fake, "one", "two", "three")
    router.resolve(fake.sent[0][0], OK, "c1")  # sends "two" for the second producer...
    second.cancel()  # ...which goes away before its task runs again
    await settle()
    assert second.cancelled() and await first == OK
    two = fake.sent[1][0]
    assert not router.resolve(two, OK, "c1")  # its late answer finds nobody
    # its slot went to the third
    assert [action for _, action in fake.sent] == ["one", "two", "three"]
    router.resolve(fake.sent[2][0], OK, "c1")
    assert await third == OK
    assert router.consumers("svc")[0].outstanding == 0 and router.in_flight == 0


async def test_the_queue_expires_and_then_the_request_times_out() -> None:
    router = Router(max_outstanding=1, queue_max_age=0.05, request_timeout=0.1)
    fake = FakeConsumer()
    router.add(fake.consumer())
    first = asyncio.create_task(router.call("svc", "one", {}))
    await settle()
    with pytest.raises(HubError) as queued:
        await router.call("svc", "two", {})
    assert queued.value.status == 408 and "free" in queued.value.message
    with pytest.raises(HubError) as unanswered:
        await first
    assert unanswered.value.status == 408 and "no response" in unanswered.value.message
    assert router.consumers("svc")[0].outstanding == 0 and router.in_flight == 0


async def test_remote_consumers_without_send_now_are_awaited() -> None:
    router = Router(max_outstanding=1)
    fake = FakeConsumer()
    router.add(fake.consumer(direct=False))
    call = asyncio.create_task(router.call("svc", "one", {}))
    await settle()
    assert fake.awaited == ["one"]
    router.resolve(fake.sent[0][0], OK, "c1")
    assert await call == OK
