"""Producer request routing: round-robin over a service's consumers, bounded in flight, bounded queue.

Each consumer takes at most ``max_outstanding`` requests at a time (10, as in Plugboard). When every consumer
of a service is full, a request waits in the service's queue — at most ``max_queued`` of them, each for at
most ``queue_max_age`` seconds — and takes the first slot that frees. A consumer here is either a socket on
this hub or a consumer held by another hub (reached through the backplane); the router does not care which:
it calls ``consumer.send``. Hubs bound their own requests to a remote consumer; the consumer's own hub bounds
what it forwards.

A slot frees as soon as the consumer's answer is read (:meth:`Router.resolve`), and a consumer that can send
without waiting (``send_now``: a socket on this hub) gets the next queued request right then, from the code
that read the answer: the consumer has its next requests before the producers hear their answers, rather
than after each waiting producer's task has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ...deadlines import DeadlineWatch, deadline_watch

SendRequest = Callable[[str, str, Any, "dict[str, str] | None"], Awaitable[None]]
"""(response_ref, action, fields, carried headers) -> sent."""
SendNow = Callable[[str, str, Any, "dict[str, str] | None"], bool]
"""The same without waiting: False when it cannot send at once (then ``send`` is awaited instead)."""


_OUTCOME_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    408: "timeout",
    413: "too_large",
    422: "no_consumer",
    502: "bad_response",
    503: "consumer_gone",
}


class HubError(Exception):
    """A request the hub answers itself: ``status``, a message for the producer, an outcome for metrics."""

    def __init__(self, status: int, message: str, outcome: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome or _OUTCOME_BY_STATUS.get(status, "error")


@dataclass(slots=True)
class Answer:
    """A consumer's reply, as the producer receives it."""

    status_code: int
    message: str | None
    fields: Any

    def to_json(self) -> dict[str, Any]:
        return {"status_code": self.status_code, "message": self.message, "fields": self.fields}


@dataclass(eq=False, slots=True)
class Consumer:
    """A consumer the router can send to, on this hub (``hub_id`` is ours) or on another."""

    id: str
    service_id: str
    hub_id: str
    send: SendRequest
    send_now: SendNow | None = None
    outstanding: int = 0
    refs: set[str] = field(default_factory=set)  # this hub's requests in flight to it


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Answer]
    consumer: Consumer
    released: bool = False  # its slot given back (the answer came, or the request ended)


@dataclass(slots=True)
class _Waiter:
    """A queued request: what it sends, and the future its slot arrives on as ``(consumer, ref or None)``
    (a ref when the request was sent for it at once)."""

    slot: asyncio.Future[tuple[Consumer, str | None]]
    action: str
    fields: Any
    headers: dict[str, str] | None


class _Pool:
    """One service's consumers, its round-robin cursor and its wait queue."""

    __slots__ = ("consumers", "cursor", "waiters")

    def __init__(self) -> None:
        self.consumers: list[Consumer] = []
        self.cursor = 0
        self.waiters: deque[_Waiter] = deque()

    def acquire(self, limit: int) -> Consumer | None:
        consumers = self.consumers
        count = len(consumers)
        for step in range(count):
            index = (self.cursor + step) % count
            consumer = consumers[index]
            if consumer.outstanding < limit:
                self.cursor = index + 1
                consumer.outstanding += 1
                return consumer
        return None


class Router:
    """Sends producers' requests to consumers and matches their responses by ``response_ref``."""

    def __init__(
        self,
        *,
        request_timeout: float = 30.0,
        max_outstanding: int = 10,
        max_queued: int = 1000,
        queue_max_age: float = 30.0,
    ) -> None:
        self.request_timeout = request_timeout
        self.max_outstanding = max_outstanding
        self.max_queued = max_queued
        self.queue_max_age = queue_max_age
        self._pools: dict[str, _Pool] = {}
        self._consumers: dict[str, Consumer] = {}
        self._pending: dict[str, _Pending] = {}
        # response_refs look like uuid4s: a random one per router, its last group counting requests
        # (uuid4() reads os.urandom per call: 5% of the hub's time). They are not secrets: a consumer can
        # only answer the requests sent to it (see resolve()).
        self._ref_prefix = str(uuid.uuid4())[:24]
        self._sequence = 0
        self._wait = min(queue_max_age, request_timeout)
        self._timeout_message = f"no response from the consumer within {request_timeout:g}s"
        self._queue_message = f"no consumer of the service was free within {self._wait:g}s"

    # -- consumers -------------------------------------------------------------------------------------------

    def add(self, consumer: Consumer) -> None:
        """Start routing to ``consumer`` (replacing a consumer of the same id)."""
        if consumer.id in self._consumers:
            self.remove(consumer.id, "the consumer reconnected")
        self._consumers[consumer.id] = consumer
        pool = self._pools.setdefault(consumer.service_id, _Pool())
        pool.consumers.append(consumer)
        self._wake(pool)

    def remove(self, consumer_id: str, reason: str) -> Consumer | None:
        """Stop routing to a consumer; its requests in flight from this hub fail at once with 503."""
        consumer = self._consumers.pop(consumer_id, None)
        if consumer is None:
            return None
        pool = self._pools.get(consumer.service_id)
        if pool is not None:
            pool.consumers.remove(consumer)
            if not pool.consumers:
                del self._pools[consumer.service_id]
                gone = HubError(503, f"the service's last consumer left: {reason}")
                for waiter in pool.waiters:
                    if not waiter.slot.done():
                        waiter.slot.set_exception(gone)
                pool.waiters.clear()
        error = HubError(503, f"the consumer disconnected before answering: {reason}")
        for ref in list(consumer.refs):
            pending = self._pending.get(ref)
            if pending is not None and not pending.future.done():
                pending.future.set_exception(error)
        return consumer

    def get(self, consumer_id: str) -> Consumer | None:
        return self._consumers.get(consumer_id)

    def consumers(self, service_id: str | None = None) -> list[Consumer]:
        """Every known consumer, or a service's."""
        if service_id is None:
            return list(self._consumers.values())
        pool = self._pools.get(service_id)
        return list(pool.consumers) if pool else []

    def count(self, service_id: str) -> int:
        pool = self._pools.get(service_id)
        return len(pool.consumers) if pool else 0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # -- requests --------------------------------------------------------------------------------------------

    async def call(
        self, service_id: str, action: str, fields: Any, headers: dict[str, str] | None = None
    ) -> Answer:
        """Send a request to one of the service's consumers and wait for its answer (HubError otherwise).

        ``headers`` is the producer's carried context (correlation id, trace), passed to the consumer.
        """
        pool = self._pools.get(service_id)
        if pool is None:
            raise HubError(422, "the service has no consumer connected")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        # The loop's shared deadline watch, not a timer per request and per wait (2 µs each with uvloop).
        watch = deadline_watch(loop)
        deadline = loop.time() + self.request_timeout
        consumer = pool.acquire(self.max_outstanding)
        ref = None
        if consumer is None:
            waiter = _Waiter(loop.create_future(), action, fields, headers)
            consumer, ref = await self._wait_for_slot(pool, waiter, loop, watch, task)
        if ref is None:
            ref, pending = self._start(consumer, loop)
            sent = False
        else:
            pending = self._pending[ref]
            sent = True
        future = pending.future
        entry = watch.add(task, deadline)
        try:
            if not sent:
                try:
                    if consumer.send_now is None or not consumer.send_now(ref, action, fields, headers):
                        await consumer.send(ref, action, fields, headers)
                except HubError:
                    raise
                except Exception as exc:
                    raise HubError(503, f"could not send the request to the consumer: {exc}") from None
            answer = await future
        except asyncio.CancelledError:
            if entry.expired():
                raise HubError(408, self._timeout_message) from None
            raise
        finally:
            watch.discard(entry)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, even when send() failed first
            self._release(ref, pending)
        entry.settle()
        return answer

    def _start(self, consumer: Consumer, loop: asyncio.AbstractEventLoop) -> tuple[str, _Pending]:
        """A new request on a slot of ``consumer``: its ref and its pending entry."""
        self._sequence += 1
        ref = f"{self._ref_prefix}{self._sequence & 0xFFFFFFFFFFFF:012x}"
        pending = self._pending[ref] = _Pending(loop.create_future(), consumer)
        consumer.refs.add(ref)
        return ref, pending

    def _release(self, ref: str, pending: _Pending) -> None:
        """Give the request's slot back (once), and hand it to the next queued request."""
        if pending.released:
            return
        pending.released = True
        self._pending.pop(ref, None)
        consumer = pending.consumer
        consumer.refs.discard(ref)
        consumer.outstanding -= 1
        pool = self._pools.get(consumer.service_id)
        if pool is not None and pool.waiters:
            self._wake(pool)

    def _wake(self, pool: _Pool) -> None:
        """Hand free slots to queued requests, first come first served; send them at once where possible."""
        waiters = pool.waiters
        while waiters:
            consumer = pool.acquire(self.max_outstanding)
            if consumer is None:
                return
            while waiters:
                waiter = waiters.popleft()
                slot = waiter.slot
                if slot.done():
                    continue
                ref = None
                if consumer.send_now is not None:
                    ref, pending = self._start(consumer, slot.get_loop())
                    try:
                        sent = consumer.send_now(ref, waiter.action, waiter.fields, waiter.headers)
                    except Exception as exc:
                        sent = True  # the request fails like a failed send: its producer hears 503
                        error = HubError(503, f"could not send the request to the consumer: {exc}")
                        pending.future.set_exception(error)
                    if not sent:  # not at once after all: its own task sends it
                        self._pending.pop(ref, None)
                        consumer.refs.discard(ref)
                        ref = None
                slot.set_result((consumer, ref))
                break
            else:
                consumer.outstanding -= 1

    async def _wait_for_slot(
        self,
        pool: _Pool,
        waiter: _Waiter,
        loop: asyncio.AbstractEventLoop,
        watch: DeadlineWatch,
        task: asyncio.Task[Any],
    ) -> tuple[Consumer, str | None]:
        if len(pool.waiters) >= self.max_queued:
            message = "every consumer of the service is busy and the wait queue is full"
            raise HubError(503, message, "overloaded")
        slot = waiter.slot
        pool.waiters.append(waiter)
        entry = watch.add(task, loop.time() + self._wait)
        try:
            taken = await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled() and slot.exception() is None:
                # A slot arrived as the producer went away (or its wait expired): give it back.
                consumer, ref = slot.result()
                if ref is None:
                    consumer.outstanding -= 1
                    self._wake(pool)
                else:  # sent already: the consumer's answer will find nobody waiting
                    pending = self._pending[ref]
                    pending.future.cancel()
                    self._release(ref, pending)
            if entry.expired():
                raise HubError(408, self._queue_message) from None
            raise
        finally:
            watch.discard(entry)
            if not slot.done():
                slot.cancel()
            if slot.cancelled() or slot.exception() is not None:  # not popped by _wake(): still queued
                with contextlib.suppress(ValueError):
                    pool.waiters.remove(waiter)
        entry.settle()
        return taken

    def resolve(self, ref: str, answer: Answer, consumer_id: str | None = None) -> bool:
        """Deliver an answer; False when no request of this hub sent to ``consumer_id`` waits for ``ref``."""
        pending = self._pending.get(ref)
        if pending is None or pending.future.done():
            return False
        if consumer_id is not None and pending.consumer.id != consumer_id:
            return False
        pending.future.set_result(answer)
        self._release(ref, pending)  # the slot is free now: the next queued request may go at once
        return True

    def fail(self, ref: str, error: HubError) -> bool:
        """End one waiting request with an error (False if it is not waiting here)."""
        pending = self._pending.get(ref)
        if pending is None or pending.future.done():
            return False
        pending.future.set_exception(error)
        return True

    def close(self, reason: str) -> None:
        """Fail everything in flight or queued (the hub is stopping)."""
        for consumer_id in list(self._consumers):
            self.remove(consumer_id, reason)
