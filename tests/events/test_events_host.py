"""ModuleHost behaviour: sync and async modules, first handler wins, unhandled events, failures,
propagation, resilience, DLQ bounds and reprocessing, configuration from the environment."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel
from seed_greeter import GreeterModule, GreetEvent, GreetInput, GreetOutput

from plugwork.errors import ActionError, ConfigError, ErrorCode
from plugwork.events import (
    CircuitBreaker,
    DeadLetterQueue,
    Event,
    EventHandlingError,
    Module,
    ModuleHost,
    ModuleHostConfig,
    RateLimiter,
    RateLimitExceeded,
    RetryPolicy,
    module,
)
from plugwork.events.exceptions import CircuitBreakerOpen


class In(BaseModel):
    n: int


class Out(BaseModel):
    by: str
    n: int


class Ping(Event[In, Out]):
    pass


def make_module(name: str, *, handles: bool = True, is_async: bool = False, fails: bool = False) -> Module:
    seen: list[Event] = []

    class Sync(Module):
        def can_handle(self, event: Event) -> bool:
            return isinstance(event, Ping)

        def handle(self, event: Event) -> None:
            seen.append(event)
            if fails:
                raise ValueError(f"{name} failed")
            if handles:
                event.output = Out(by=name, n=event.input.n)
                event.handled = True

    class Async(Sync):
        async def handle(self, event: Event) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            Sync.handle(self, event)

    cls = module(name=name)(Async if is_async else Sync)
    instance = cls()
    instance.seen = seen  # type: ignore[attr-defined]
    return instance


@pytest.fixture
def host() -> ModuleHost:
    h = ModuleHost(ModuleHostConfig(propagate_exceptions=False))
    yield h
    h.close()


@pytest.mark.parametrize("is_async", [False, True])
async def test_sync_and_async_modules(host: ModuleHost, is_async: bool) -> None:
    host.register(make_module("m", is_async=is_async))
    event = Ping(In(n=3))
    outcome = await host.handle_async(event)
    assert outcome.ok and outcome.output == Out(by="m", n=3) and event.output == Out(by="m", n=3)


async def test_sync_modules_run_on_the_bounded_pool() -> None:
    threads: set[str] = set()

    class Where(Module):
        def can_handle(self, event: Event) -> bool:
            return True

        def handle(self, event: Event) -> None:
            threads.add(threading.current_thread().name)
            event.handled = True

    host = ModuleHost(ModuleHostConfig(max_workers=2))
    host.register(Where())
    await asyncio.gather(*(host.handle_async(Ping(In(n=i))) for i in range(20)))
    assert threads and all(t.startswith("plugwork-events") for t in threads) and len(threads) <= 2
    host.close()


async def test_first_handler_wins_in_registration_order(host: ModuleHost) -> None:
    passer = host.register(make_module("passes", handles=False))
    first = host.register(make_module("first"))
    second = host.register(make_module("second", is_async=True))
    event = Ping(In(n=1))
    await host.handle_async(event)
    assert event.output.by == "first"
    assert len(passer.seen) == 1 and len(first.seen) == 1 and second.seen == []


async def test_unhandled_is_a_clear_outcome_never_raised() -> None:
    host = ModuleHost()  # propagate_exceptions defaults to True: still not raised
    host.register(make_module("declines", handles=False))
    event = Ping(In(n=1))
    outcome = await host.handle_async(event)
    assert not outcome.ok and outcome.error.code is ErrorCode.NOT_FOUND and outcome.status == 404
    assert outcome.error.message == "No module handled event Ping" and not event.handled
    assert host.metrics.events_unhandled == 1 and host.metrics.events_failed == 0
    assert not host.handle(Ping(In(n=2))).ok  # sync too
    host.close()


async def test_failure_outcome_dlq_and_on_error_without_propagation() -> None:
    dlq = DeadLetterQueue(max_size=10)
    errors = []
    host = ModuleHost(
        ModuleHostConfig(
            propagate_exceptions=False, dead_letter_queue=dlq, on_error=lambda e, ev: errors.append(e)
        )
    )
    host.register(make_module("bad", fails=True))
    event = Ping(In(n=1))
    outcome = await host.handle_async(event)
    assert outcome.error.code is ErrorCode.INTERNAL and outcome.error.message == "Internal server error"
    assert [e.event for e in dlq.entries] == [event] and isinstance(dlq.entries[0].error, ValueError)
    assert [str(e) for e in errors] == ["bad failed"]
    assert host.metrics.to_dict() | {} == {
        **host.metrics.to_dict(),
        "events_failed": 1,
        "events_dead_lettered": 1,
        "events_dispatched": 1,
    }
    host.close()


async def test_propagation_raises_event_handling_error() -> None:
    host = ModuleHost(ModuleHostConfig(propagate_exceptions=True))
    bad = host.register(make_module("bad", fails=True, is_async=True))
    event = Ping(In(n=1))
    with pytest.raises(EventHandlingError) as info:
        await host.handle_async(event)
    assert info.value.event is event and info.value.module is bad
    assert isinstance(info.value.original_error, ValueError)
    host.close()


async def test_action_errors_from_modules_keep_their_code(host: ModuleHost) -> None:
    from plugwork.errors import Forbidden

    class Guard(Module):
        def can_handle(self, event: Event) -> bool:
            return True

        async def handle(self, event: Event) -> None:
            raise Forbidden("not yours")

    host.register(Guard())
    outcome = await host.handle_async(Ping(In(n=1)))
    assert outcome.error.code is ErrorCode.FORBIDDEN and outcome.error.message == "not yours"


async def test_invalid_input_is_a_validation_error(host: ModuleHost) -> None:
    host.register(GreeterModule())
    outcome = await host.handle_async(GreetEvent(GreetInput(name=5)))  # type: ignore[arg-type]
    assert outcome.error.code is ErrorCode.VALIDATION_ERROR and outcome.error.details[0]["field"] == "name"


async def test_retry_policy_retries_failures_and_counts_them() -> None:
    calls = []

    class Flaky(Module):
        def can_handle(self, event: Event) -> bool:
            return True

        async def handle(self, event: Event) -> None:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("try again")
            event.output = Out(by="flaky", n=len(calls))
            event.handled = True

    host = ModuleHost(
        ModuleHostConfig(retry_policy=RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.002))
    )
    host.register(Flaky())
    outcome = await host.handle_async(Ping(In(n=1)))
    assert outcome.ok and outcome.output.n == 3
    assert host.metrics.events_retried == 2 and host.metrics.events_handled == 1
    host.close()


async def test_rate_limiter_refuses_or_blocks() -> None:
    host = ModuleHost(ModuleHostConfig(rate_limiter=RateLimiter(rate=0.001, burst=1, block=False)))
    host.register(make_module("m", is_async=True))
    assert (await host.handle_async(Ping(In(n=1)))).ok
    with pytest.raises(RateLimitExceeded):
        await host.handle_async(Ping(In(n=2)))
    assert host.metrics.events_rate_limited == 1
    host.close()

    blocking = ModuleHost(ModuleHostConfig(rate_limiter=RateLimiter(rate=200, burst=1, block=True)))
    blocking.register(make_module("m", is_async=True))
    results = [await blocking.handle_async(Ping(In(n=i))) for i in range(3)]
    assert all(r.ok for r in results) and blocking.metrics.events_rate_limited == 0
    never = ModuleHost(
        ModuleHostConfig(rate_limiter=RateLimiter(rate=0.001, burst=1, block=True, max_wait=0.01))
    )
    never.register(make_module("m", is_async=True))
    await never.handle_async(Ping(In(n=1)))
    with pytest.raises(RateLimitExceeded):
        await never.handle_async(Ping(In(n=2)))


async def test_circuit_breaker_opens_after_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60)
    host = ModuleHost(ModuleHostConfig(circuit_breaker=breaker, propagate_exceptions=False))
    host.register(make_module("bad", fails=True, is_async=True))
    for _ in range(2):
        assert (await host.handle_async(Ping(In(n=1)))).error.code is ErrorCode.INTERNAL
    assert (await host.handle_async(Ping(In(n=1)))).error.code is ErrorCode.CIRCUIT_OPEN
    assert host.metrics.events_circuit_broken == 1 and host.metrics.events_failed == 2
    host.config.propagate_exceptions = True
    with pytest.raises(CircuitBreakerOpen):
        await host.handle_async(Ping(In(n=1)))
    host.close()


def test_dlq_is_bounded_drops_oldest_and_counts() -> None:
    dlq = DeadLetterQueue(max_size=2)
    events = [GreetEvent(GreetInput(name=str(i))) for i in range(5)]
    for event in events:
        dlq.add(event, "boom")
    assert [e.event for e in dlq.entries] == events[3:] and dlq.dropped == 3
    with pytest.raises(ValueError):
        DeadLetterQueue(max_size=0)


def test_dlq_reprocess_keeps_failures_with_one_more_attempt() -> None:
    dlq = DeadLetterQueue(max_size=10)
    host = ModuleHost(ModuleHostConfig(propagate_exceptions=False, dead_letter_queue=dlq))
    host.register(make_module("bad", fails=True))
    host.handle(Ping(In(n=1)))
    host.handle(Ping(In(n=2)))
    assert len(dlq) == 2 and [e.attempts for e in dlq.entries] == [1, 1]
    assert dlq.reprocess(host.handle) == (0, 2)
    assert [e.attempts for e in dlq.entries] == [2, 2]  # re-added once, not twice
    host.unregister("bad")
    host.register(make_module("good"))
    assert dlq.reprocess(host.handle) == (2, 0) and len(dlq) == 0
    host.close()


async def test_dlq_reprocess_async() -> None:
    dlq = DeadLetterQueue()
    host = ModuleHost(ModuleHostConfig(propagate_exceptions=True, dead_letter_queue=dlq))
    host.register(make_module("bad", fails=True, is_async=True))
    with pytest.raises(EventHandlingError):
        await host.handle_async(Ping(In(n=1)))
    assert await dlq.reprocess_async(host.handle_async) == (0, 1)
    host.close()


def test_sync_handle_refuses_to_block_its_own_loop() -> None:
    host = ModuleHost()
    host.register(GreeterModule())

    async def inner() -> None:
        host.handle(GreetEvent(GreetInput()))

    future = asyncio.run_coroutine_threadsafe(inner(), host._target_loop())
    with pytest.raises(RuntimeError, match="handle_async"):
        future.result(5)
    host.close()


def test_sync_handle_works_inside_a_running_loop_of_another_thread() -> None:
    host = ModuleHost()
    host.register(GreeterModule())

    async def main() -> GreetOutput:
        event = GreetEvent(GreetInput(name="Loop"))
        host.handle(event)
        return event.output

    assert asyncio.run(main()).message == "Hello, Loop!"
    host.close()


def test_registration_rules() -> None:
    from plugwork.errors import DefinitionError
    from plugwork.events import ModuleRegistrationError

    host = ModuleHost()
    with pytest.raises(ModuleRegistrationError):
        host.register(object())  # type: ignore[arg-type]

    class Other(Event[In, Out]):
        name = "Ping"

    host.register_event(Ping)
    with pytest.raises(DefinitionError, match="two event types named 'Ping'"):
        host.register_event(Other)
    with pytest.raises(KeyError):
        host.unregister("nope")


def test_from_env_names_the_bad_variable() -> None:
    with pytest.raises(ConfigError) as info:
        ModuleHostConfig.from_env({"PYMODULES_MAX_WORKERS": "lots"})
    assert info.value.key == "PYMODULES_MAX_WORKERS"
    with pytest.raises(ConfigError) as info:
        ModuleHostConfig.from_env({"PYMODULES_RATE_LIMIT": "-1"})
    assert info.value.key == "PYMODULES_RATE_LIMIT"
    config = ModuleHostConfig.from_env({})
    assert config.rate_limiter is None and config.dead_letter_queue is None and config.max_workers == 4
    assert ModuleHostConfig.from_env({"PYMODULES_PROPAGATE_EXCEPTIONS": "0"}).propagate_exceptions is False


async def test_tracing_exporter_gets_one_trace_per_event() -> None:
    from plugwork.events.tracing import Tracer, set_tracer

    exported = []
    set_tracer(Tracer("svc", export_func=exported.append))
    try:
        host = ModuleHost()
        host.register(make_module("m", is_async=True))
        event = Ping(In(n=1), meta={"correlation_id": "given-id"})
        await host.handle_async(event)
        off = ModuleHost(ModuleHostConfig(enable_tracing=False))
        off.register(make_module("m", is_async=True))
        quiet = Ping(In(n=1))
        await off.handle_async(quiet)
    finally:
        set_tracer(None)
    assert event.meta["correlation_id"] == "given-id" and "correlation_id" not in quiet.meta
    assert [(t["name"], t["correlation_id"], t["attributes"]["outcome"]) for t in exported] == [
        ("Ping", "given-id", "OK")
    ]


async def test_raising_timeouts_as_action_errors() -> None:
    class Slow(Module):
        def can_handle(self, event: Event) -> bool:
            return True

        async def handle(self, event: Event) -> None:
            await asyncio.sleep(5)

    host = ModuleHost(ModuleHostConfig(timeout=0.05))
    host.register(Slow())
    with pytest.raises(ActionError) as info:
        await host.handle_async(Ping(In(n=1)))
    assert info.value.code is ErrorCode.TIMEOUT
    host.close()


def test_sync_handle_waits_a_bounded_time() -> None:
    class Stuck(Module):
        def can_handle(self, event: Event) -> bool:
            return True

        async def handle(self, event: Event) -> None:
            await asyncio.sleep(10)

    host = ModuleHost()
    host.register(Stuck())
    with pytest.raises(ActionError) as info:
        host.handle(Ping(In(n=1)), timeout=0.05)
    assert info.value.code is ErrorCode.TIMEOUT
    timed = ModuleHost(ModuleHostConfig(timeout=0.05))
    timed.register(Stuck())
    with pytest.raises(ActionError) as info:
        timed.handle(Ping(In(n=1)))  # the event's own deadline answers, within the sync wait
    assert info.value.code is ErrorCode.TIMEOUT and "timed out" in info.value.message
    host.close()
    timed.close()


async def test_tracing_records_each_attempt_with_its_outcome() -> None:
    from plugwork.events import RetryPolicy
    from plugwork.events.tracing import Tracer, set_tracer

    class Flaky(Module):
        calls = 0

        def can_handle(self, event: Event) -> bool:
            return True

        async def handle(self, event: Event) -> None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("first attempt fails")
            event.output = Out(by="flaky", n=event.input.n)
            event.handled = True

    exported: list[dict] = []
    set_tracer(Tracer("svc", export_func=exported.append))
    try:
        host = ModuleHost(ModuleHostConfig(retry_policy=RetryPolicy(max_retries=2, base_delay=0.001)))
        host.register(Flaky())
        event = Ping(In(n=3), meta={"correlation_id": "cid-r"})
        outcome = await host.handle_async(event)
    finally:
        set_tracer(None)
    assert outcome.error is None and event.output == Out(by="flaky", n=3)
    assert [(t["correlation_id"], t["attributes"]["outcome"]) for t in exported] == [
        ("cid-r", "INTERNAL"),
        ("cid-r", "OK"),
    ]
    assert exported[0]["error"].startswith("RuntimeError")
    assert host.metrics.to_dict()["events_handled"] == 1 and host.metrics.to_dict()["events_retried"] == 1
