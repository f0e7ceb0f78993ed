"""Remote calls from a :class:`Registry` view to real HTTP instances: balancing, failover, errors, stubs."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from registry_helpers import billing_app, free_port, instance_at, serving

from plugwork.context import Context, current_context
from plugwork.errors import (
    ActionError,
    ErrorCode,
    InvalidInput,
    InvocationTimeout,
    Unavailable,
    UnknownAction,
)
from plugwork.registry.models import SchemaRecord
from plugwork.registry.stores.memory import MemoryRegistryStore
from plugwork.registry.view import Registry


@pytest.fixture
async def fleet() -> AsyncIterator[list[str]]:
    """Three billing instances served over HTTP on this loop: their base URLs."""
    async with serving(billing_app("a")) as a, serving(billing_app("b")) as b, serving(billing_app("c")) as c:
        yield [a, b, c]


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    reg = Registry()
    try:
        yield reg
    finally:
        await reg.close()


async def test_round_robin_spreads_calls_evenly(registry: Registry, fleet: list[str]) -> None:
    registry.update([instance_at(url, label) for url, label in zip(fleet, "abc", strict=True)])
    billing = registry.remote("billing")
    served = Counter([(await billing.call("charge", {"amount": 1}))["instance"] for _ in range(30)])
    assert served == {"a": 10, "b": 10, "c": 10}


async def test_failover_on_a_refused_connection_loses_no_call(registry: Registry, fleet: list[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    registry.update([instance_at(fleet[0], "a"), instance_at(dead, "dead"), instance_at(fleet[1], "b")])
    billing = registry.remote("billing")
    served = Counter([(await billing.call("charge", {"amount": 1}))["instance"] for _ in range(20)])
    assert served == {"a": 10, "b": 10}
    # Refused once, the instance is skipped until it heartbeats again.
    assert [i.instance_id for i in registry.candidates("billing")] == ["a", "b"]


async def test_every_strategy_reaches_only_live_instances(registry: Registry, fleet: list[str]) -> None:
    registry.update([instance_at(url, label) for url, label in zip(fleet, "abc", strict=True)])
    for strategy in ("random", "least_in_flight"):
        billing = registry.remote("billing", strategy=strategy)
        served = {(await billing.call("charge", {"amount": 1}))["instance"] for _ in range(30)}
        assert served <= {"a", "b", "c"} and len(served) >= 2


async def test_shard_by_key_is_sticky_and_needs_a_key(registry: Registry, fleet: list[str]) -> None:
    registry.update([instance_at(url, label) for url, label in zip(fleet, "abc", strict=True)])
    billing = registry.remote("billing", strategy="shard")
    for key in ("customer-1", "customer-2", "customer-3"):
        served = {(await billing.call("charge", {"amount": 1}, key=key))["instance"] for _ in range(5)}
        assert len(served) == 1
    spread = {(await billing.call("charge", {"amount": 1}, key=f"k{i}"))["instance"] for i in range(40)}
    assert spread == {"a", "b", "c"}
    with pytest.raises(InvalidInput):
        await billing.call("charge", {"amount": 1})


async def test_remote_errors_keep_the_one_taxonomy(registry: Registry, fleet: list[str]) -> None:
    registry.update([instance_at(fleet[0], "a")])
    billing = registry.remote("billing")
    with pytest.raises(ActionError) as refused:
        await billing.call("refuse", {"amount": 1})
    assert (refused.value.code, refused.value.status, refused.value.details) == (
        ErrorCode.FORBIDDEN,
        403,
        {"why": "test"},
    )
    with pytest.raises(ActionError) as invalid:
        await billing.call("charge", {"amount": -1})
    assert invalid.value.code is ErrorCode.VALIDATION_ERROR and invalid.value.details[0]["field"] == "amount"
    with pytest.raises(ActionError) as unknown:
        await billing.call("nope", {})
    assert unknown.value.code is ErrorCode.UNKNOWN_ACTION
    with pytest.raises(InvocationTimeout):
        await billing.call("slow", {"amount": 1}, timeout=0.2)


async def test_no_instance_is_unavailable(registry: Registry) -> None:
    with pytest.raises(Unavailable):
        await registry.remote("billing").call("charge", {"amount": 1})
    registry.update([instance_at(f"http://127.0.0.1:{free_port()}", "dead")])
    with pytest.raises(Unavailable) as exc:
        await registry.remote("billing").call("charge", {"amount": 1})
    assert "127.0.0.1" not in str(exc.value) and exc.value.details == {"service": "billing", "tried": 1}


async def test_red_and_non_http_instances_get_no_calls(registry: Registry, fleet: list[str]) -> None:
    registry.update(
        [
            instance_at(fleet[0], "a"),
            instance_at(fleet[1], "sick", health_status="RED"),
            instance_at(None, "worker-only"),
            instance_at(fleet[2], "other", service_version="2.0.0"),
        ]
    )
    served = {(await registry.remote("billing").call("charge", {"amount": 1}))["instance"] for _ in range(6)}
    assert served == {"a", "c"}
    pinned = registry.remote("billing", version="2.0.0")
    assert {(await pinned.call("charge", {"amount": 1}))["instance"] for _ in range(3)} == {"c"}


async def test_the_callers_context_travels_with_the_call(registry: Registry, fleet: list[str]) -> None:
    registry.update([instance_at(fleet[0], "a")])
    token = current_context.set(Context(correlation_id="corr-123"))
    try:
        out = await registry.remote("billing").call("charge", {"amount": 1})
    finally:
        current_context.reset(token)
    assert out["correlation_id"] == "corr-123"


async def test_the_callers_deadline_bounds_the_call(registry: Registry, fleet: list[str]) -> None:
    import asyncio

    registry.update([instance_at(fleet[0], "a")])
    loop = asyncio.get_running_loop()
    token = current_context.set(Context(deadline=loop.time() + 0.2))
    try:
        with pytest.raises(InvocationTimeout):
            await registry.remote("billing").call("slow", {"amount": 1})
    finally:
        current_context.reset(token)


async def test_stubs_validate_before_sending(fleet: list[str]) -> None:
    from registry_helpers import billing_app as make

    store = MemoryRegistryStore()
    app = make("a")
    entries = tuple({k: e[k] for k in ("name", "input_schema", "output_schema")} for e in app.catalog())
    await store.publish_schemas(SchemaRecord("billing", "1.0.0", entries), ttl=30)
    registry = Registry(store=lambda: store)
    try:
        registry.update([instance_at(fleet[0], "a")])
        billing = await registry.remote("billing").stub()
        assert billing.actions == ["charge", "refuse", "slow"]
        out = await billing.charge(amount=2, currency="USD")
        assert out["instance"] == "a"
        with pytest.raises(InvalidInput) as bad:
            await billing.charge(amount="lots")
        assert bad.value.details[0]["field"] == "amount"
        with pytest.raises(UnknownAction):
            await billing.call("nope", {})
        with pytest.raises(AttributeError):
            _ = billing.nope
    finally:
        await registry.close()
