"""Every PyModules seed sample about events, modules, the host, resilience, tracing, health and metrics,
run with only its import lines changed."""

from __future__ import annotations

import logging

import pytest
from seed_greeter import AsyncGreeterModule, GreeterModule, GreetEvent, GreetInput, GreetOutput

from plugwork.events import Event, Module, ModuleHost, ModuleHostConfig, module

logger = logging.getLogger("seed")


def test_quick_start() -> None:
    # Create host and register modules
    host = ModuleHost()
    host.register(GreeterModule())

    # Dispatch event
    event = GreetEvent(input=GreetInput(name="Alice"))
    host.handle(event)

    assert event.output.message == "Hello, Alice!"
    assert event.handled
    host.close()


def test_basic_configuration() -> None:
    config = ModuleHostConfig(
        max_workers=8,  # Thread pool size
        propagate_exceptions=False,  # Don't crash on handler errors
        enable_metrics=True,  # Enable metrics collection
        enable_tracing=True,  # Enable distributed tracing
    )

    host = ModuleHost(config=config)
    host.register(GreeterModule())
    event = GreetEvent(input=GreetInput(name="Bob"))
    assert host.handle(event).ok
    assert event.output == GreetOutput(message="Hello, Bob!")
    host.close()


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PYMODULES_MAX_WORKERS": "8",
        "PYMODULES_PROPAGATE_EXCEPTIONS": "false",
        "PYMODULES_LOG_LEVEL": "INFO",
        "PYMODULES_ENABLE_METRICS": "true",
        "PYMODULES_ENABLE_TRACING": "true",
        "PYMODULES_RATE_LIMIT": "100",
        "PYMODULES_RATE_LIMIT_BURST": "10",
        "PYMODULES_CIRCUIT_BREAKER_THRESHOLD": "5",
        "PYMODULES_RETRY_MAX": "3",
        "PYMODULES_DLQ_SIZE": "1000",
    }.items():
        monkeypatch.setenv(name, value)

    # Load config from environment
    config = ModuleHostConfig.from_env()
    host = ModuleHost(config=config)

    assert config.max_workers == 8 and config.propagate_exceptions is False
    assert config.rate_limiter is not None and config.rate_limiter.rate == 100
    assert config.rate_limiter.burst == 10
    assert config.circuit_breaker is not None and config.circuit_breaker.failure_threshold == 5
    assert config.retry_policy is not None and config.retry_policy.max_retries == 3
    assert config.dead_letter_queue is not None and config.dead_letter_queue.max_size == 1000
    host.register(GreeterModule())
    assert host.handle(GreetEvent(input=GreetInput(name="Env"))).ok
    host.close()


def test_resilience_configuration_samples() -> None:
    from plugwork.events.resilience import CircuitBreaker, RateLimiter, RetryPolicy

    config = ModuleHostConfig(
        rate_limiter=RateLimiter(
            rate=100,  # 100 events per second
            burst=10,  # Allow bursts up to 10
            block=False,  # Raise RateLimitExceeded instead of blocking
        )
    )

    host = ModuleHost(config=config)
    host.close()

    config = ModuleHostConfig(
        circuit_breaker=CircuitBreaker(
            failure_threshold=5,  # Open after 5 failures
            recovery_timeout=30,  # Try again after 30 seconds
            success_threshold=2,  # Close after 2 successes
        )
    )
    config = ModuleHostConfig(
        retry_policy=RetryPolicy(
            max_retries=3,
            base_delay=1.0,  # Start with 1 second
            max_delay=60.0,  # Cap at 60 seconds
            exponential_base=2.0,  # Double each retry
        )
    )
    assert config.retry_policy is not None and config.retry_policy.max_attempts == 4


@module(name="Broken")
class BrokenModule(Module):
    def can_handle(self, event: Event) -> bool:
        return isinstance(event, GreetEvent)

    def handle(self, event: Event) -> None:
        raise RuntimeError("database down")


def test_dead_letter_queue_sample(capsys: pytest.CaptureFixture[str]) -> None:
    from plugwork.events.resilience import DeadLetterQueue

    dlq = DeadLetterQueue(max_size=1000)

    config = ModuleHostConfig(dead_letter_queue=dlq, propagate_exceptions=False)

    host = ModuleHost(config=config)
    broken = host.register(BrokenModule())
    host.handle(GreetEvent(input=GreetInput(name="Lost")))

    # Later, inspect failures
    for entry in dlq.entries:
        print(f"Failed: {entry.event.name} - {entry.error}")
    assert "Failed: myapp.greet - database down" in capsys.readouterr().out

    # Reprocess failed events (the module is fixed in the meantime)
    host.unregister(broken.metadata.name)
    host.register(GreeterModule())
    successful, failed = dlq.reprocess(host.handle)
    assert (successful, failed) == (1, 0)
    assert dlq.entries == []
    host.close()


class ExternalApi:
    def get_user(self) -> dict[str, str]:
        raise ConnectionError("api unreachable")


external_api = ExternalApi()


def test_fallback_sample() -> None:
    from plugwork.events.resilience import Fallback

    fallback = Fallback(default_value={"status": "unavailable"}, log_errors=True)

    @fallback
    def get_user_data():
        return external_api.get_user()

    assert get_user_data() == {"status": "unavailable"}


def test_correlation_ids_sample() -> None:
    config = ModuleHostConfig(enable_tracing=True)
    host = ModuleHost(config=config)
    host.register(GreeterModule())

    event = GreetEvent(input=GreetInput(name="Alice"))
    host.handle(event)

    assert len(event.meta["correlation_id"]) == 32  # "a1b2c3d4e5f6..."
    host.close()


def validate_order(order: dict[str, int]) -> None:
    assert order["qty"] > 0


def save_order(order: dict[str, int]) -> None:
    order["saved"] = 1


def test_manual_tracing_sample() -> None:
    from plugwork.events.tracing import Tracer, get_tracer, set_tracer

    order = {"qty": 1}
    tracer = Tracer(service_name="my-service")
    set_tracer(tracer)
    try:
        with tracer.trace("process_order", correlation_id="order-123") as ctx:
            with ctx.span("validate"):
                validate_order(order)

            with ctx.span("save"):
                save_order(order)

        # Access trace data
        data = ctx.to_dict()
        assert get_tracer() is tracer
    finally:
        set_tracer(None)
    assert data["correlation_id"] == "order-123" and data["service_name"] == "my-service"
    assert [s["name"] for s in data["spans"]] == ["validate", "save"]
    assert all(s["parent_id"] == data["span_id"] for s in data["spans"])


def test_async_handlers_sample() -> None:
    import asyncio

    host = ModuleHost()
    host.register(AsyncGreeterModule())
    event = GreetEvent(input=GreetInput(name="ada"))

    async def main() -> None:
        # Use handle_async for best performance
        await host.handle_async(event)

    asyncio.run(main())
    assert event.output.message == "Hello, Ada!"


def test_metrics_sample() -> None:
    config = ModuleHostConfig(enable_metrics=True, propagate_exceptions=False)
    host = ModuleHost(config=config)
    host.register(GreeterModule())
    for name in ("a", "b", "c"):
        host.handle(GreetEvent(input=GreetInput(name=name)))

    # After processing events...
    metrics = host.metrics.to_dict()
    assert metrics == {
        "events_dispatched": 3,
        "events_handled": 3,
        "events_unhandled": 0,
        "events_failed": 0,
        "events_retried": 0,
        "events_rate_limited": 0,
        "events_circuit_broken": 0,
        "events_dead_lettered": 0,
        "modules_registered": 1,
    }
    host.close()


def test_error_handling_sample(capsys: pytest.CaptureFixture[str]) -> None:
    from plugwork.events.exceptions import EventHandlingError, ModuleRegistrationError

    errors: list[tuple[BaseException, Event]] = []
    config = ModuleHostConfig(
        propagate_exceptions=True,  # Re-raise handler exceptions
        on_error=lambda e, event: errors.append((e, event)),
    )
    host = ModuleHost(config=config)
    host.register(BrokenModule())
    event = GreetEvent(input=GreetInput(name="x"))

    try:
        host.handle(event)
    except EventHandlingError as e:
        print(f"Event: {e.event.name}")
        print(f"Module: {e.module.metadata.name}")
        print(f"Error: {e.original_error}")
    out = capsys.readouterr().out
    assert out == "Event: myapp.greet\nModule: Broken\nError: database down\n"
    assert len(errors) == 1 and errors[0][1] is event and str(errors[0][0]) == "database down"
    with pytest.raises(ModuleRegistrationError):
        host.register(BrokenModule())
    host.close()
