"""Retry, circuit breaker, bulkhead and fallback middleware, through a real dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from plugwork import ActionError, ErrorCode, Unavailable, action
from plugwork.actions import bind, spec_from_function
from plugwork.dispatch import Dispatcher, Invocation, Middleware
from plugwork.middleware import Bulkhead, CircuitBreaker, CircuitState, Fallback, Retry, backoff_delay


class In(BaseModel):
    fail: int = 0  # how many calls fail before one succeeds
    code: str = "UNAVAILABLE"


class Flaky:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, input: In) -> dict[str, int]:
        self.calls += 1
        if self.calls <= input.fail:
            raise ActionError("flaky", code=ErrorCode(input.code))
        return {"calls": self.calls}


def dispatcher(handler: Any, *middleware: Middleware) -> Dispatcher:
    async def flaky(input: In) -> dict[str, int]:
        result: dict[str, int] = await handler(input)
        return result

    spec = spec_from_function(action("flaky", middleware=list(middleware))(flaky))
    return Dispatcher.build({"flaky": spec}, {"flaky": bind(spec, lambda t: None)})


async def run(d: Dispatcher, **payload: Any) -> Any:
    return await d.dispatch(Invocation("flaky", payload))


async def test_retry_retries_retryable_errors_until_success() -> None:
    handler = Flaky()
    d = dispatcher(handler, Retry(3, base_delay=0.001))
    outcome = await run(d, fail=2)
    assert outcome.ok and outcome.output == {"calls": 3}


async def test_retry_gives_up_after_max_attempts() -> None:
    handler = Flaky()
    outcome = await run(dispatcher(handler, Retry(2, base_delay=0.001)), fail=5)
    assert outcome.error is not None and outcome.error.code is ErrorCode.UNAVAILABLE
    assert handler.calls == 2


async def test_retry_never_retries_invalid_input() -> None:
    handler = Flaky()
    outcome = await run(dispatcher(handler, Retry(5, base_delay=0.001)), fail=1, code="VALIDATION_ERROR")
    assert outcome.error is not None and outcome.error.code is ErrorCode.VALIDATION_ERROR
    assert handler.calls == 1


async def test_retry_stops_at_the_deadline() -> None:
    handler = Flaky()
    d = dispatcher(handler, Retry(50, base_delay=10.0, max_delay=10.0))
    from plugwork import Context

    ctx = Context(deadline=asyncio.get_running_loop().time() + 0.05)
    outcome = await d.dispatch(Invocation("flaky", {"fail": 50}, ctx))
    assert not outcome.ok  # gave up rather than sleeping past the deadline
    assert handler.calls <= 2


def test_backoff_is_capped_and_jittered() -> None:
    delays = [backoff_delay(10, 0.1, 1.0) for _ in range(200)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100


async def test_circuit_opens_rejects_then_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=0.05, success_threshold=1)
    handler = Flaky()
    d = dispatcher(handler, breaker)
    for _ in range(2):
        assert (await run(d, fail=100, code="INTERNAL")).error is not None
    assert breaker.state is CircuitState.OPEN
    rejected = await run(d, fail=0)
    assert rejected.error is not None and rejected.error.code is ErrorCode.CIRCUIT_OPEN
    assert rejected.status == 503 and handler.calls == 2  # the handler was not called
    await asyncio.sleep(0.06)
    assert breaker.state is CircuitState.HALF_OPEN
    handler.calls = 0
    assert (await run(d, fail=0)).ok
    assert breaker.state is CircuitState.CLOSED


async def test_circuit_failure_while_half_open_reopens() -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.02)
    breaker.record_failure()
    assert not breaker.can_execute()
    await asyncio.sleep(0.03)
    assert breaker.can_execute()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


async def test_client_errors_do_not_trip_the_circuit() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    d = dispatcher(Flaky(), breaker)
    await run(d, fail=1, code="VALIDATION_ERROR")
    assert breaker.state is CircuitState.CLOSED


async def test_bulkhead_bounds_concurrency_and_refuses_overflow() -> None:
    release = asyncio.Event()
    running = 0
    peak = 0

    async def slow(input: In) -> dict[str, int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return {}

    d = dispatcher(slow, Bulkhead(2, max_waiting=1))
    tasks = [asyncio.create_task(run(d)) for _ in range(3)]
    await asyncio.sleep(0.01)
    refused = await run(d)
    assert refused.error is not None and refused.error.code is ErrorCode.UNAVAILABLE
    release.set()
    outcomes = await asyncio.gather(*tasks)
    assert all(o.ok for o in outcomes) and peak == 2


async def test_fallback_replaces_retryable_failures_only() -> None:
    d = dispatcher(Flaky(), Fallback({"calls": -1}))
    assert (await run(d, fail=1)).output == {"calls": -1}
    invalid = await run(d, fail=100, code="VALIDATION_ERROR")
    assert invalid.error is not None and invalid.error.code is ErrorCode.VALIDATION_ERROR


async def test_fallback_factory_sees_the_failed_outcome() -> None:
    async def factory(invocation: Invocation, outcome: Any) -> dict[str, str]:
        return {"degraded": outcome.error.code.value}

    d = dispatcher(Flaky(), Fallback(factory=factory))
    assert (await run(d, fail=1, code="TIMEOUT")).output == {"degraded": "TIMEOUT"}


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Retry(0)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        Bulkhead(0)


def test_unavailable_is_retryable() -> None:
    assert Unavailable("x").code.retryable
