"""One contract for every registry store: memory, SQLite, PostgreSQL, Redis and MongoDB."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from plugwork.registry.models import Instance, SchemaRecord, Transports
from plugwork.registry.store import RegistryStore, store_from_url

ACTIONS = (
    {
        "name": "charge",
        "input_schema": {"type": "object", "properties": {"amount": {"type": "number"}}},
        "output_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
)


def instance(service: str = "billing", **fields: object) -> Instance:
    values: dict[str, object] = {
        "instance_id": uuid.uuid4().hex,
        "service_name": service,
        "service_version": "1.2.3",
        "host": "10.0.1.42",
        "port": 8000,
        "transports": Transports("http://10.0.1.42:8000", ("billing",), "billing"),
        "health_checks": {"job_queue": {"status": "GREEN", "details": {"depth": 0}}},
        "metadata": {"zone": "eu-1", "weight": 2},
        "started_at": time.time() - 5,
    }
    values.update(fields)
    return Instance(**values)  # type: ignore[arg-type]


async def test_register_then_list_round_trips_every_field(store: RegistryStore) -> None:
    given = instance()
    stored = await store.register(given, ttl=30)
    assert stored.expires_at == pytest.approx(stored.last_heartbeat + 30)
    [found] = await store.instances()
    assert found.instance_id == given.instance_id
    assert (found.service_name, found.service_version, found.host, found.port) == (
        "billing",
        "1.2.3",
        "10.0.1.42",
        8000,
    )
    assert found.transports == given.transports
    assert found.health_status == "GREEN"
    assert found.health_checks == given.health_checks
    assert found.metadata == {"zone": "eu-1", "weight": 2}
    assert found.started_at == pytest.approx(given.started_at, abs=0.002)
    assert found.last_heartbeat == pytest.approx(stored.last_heartbeat, abs=0.002)
    assert found.expires_at == pytest.approx(stored.expires_at, abs=0.002)


async def test_heartbeat_replaces_the_instance_not_duplicates_it(store: RegistryStore) -> None:
    given = instance()
    await store.register(given, ttl=30)
    from dataclasses import replace

    await store.register(
        replace(given, health_status="YELLOW", health_checks={"db": {"status": "YELLOW"}}), 30
    )
    [found] = await store.instances("billing")
    assert found.health_status == "YELLOW"
    assert found.health_checks == {"db": {"status": "YELLOW"}}


async def test_instances_filter_by_service_in_a_stable_order(store: RegistryStore) -> None:
    ids = sorted(uuid.uuid4().hex for _ in range(3))
    for i in reversed(ids):
        await store.register(instance("billing", instance_id=i), ttl=30)
    await store.register(instance("audit"), ttl=30)
    assert [i.instance_id for i in await store.instances("billing")] == ids
    assert [i.service_name for i in await store.instances()] == ["audit", "billing", "billing", "billing"]
    assert await store.instances("nobody") == []


async def test_deregister_removes_at_once(store: RegistryStore) -> None:
    keep, leave = instance(), instance()
    await store.register(keep, ttl=30)
    await store.register(leave, ttl=30)
    assert await store.deregister(leave.instance_id) is True
    assert [i.instance_id for i in await store.instances("billing")] == [keep.instance_id]
    assert await store.deregister(leave.instance_id) is False
    assert await store.deregister("never-registered") is False


async def test_an_instance_that_stops_heartbeating_vanishes_after_its_ttl(store: RegistryStore) -> None:
    dead, alive = instance(), instance()
    await store.register(dead, ttl=0.4)
    await store.register(alive, ttl=30)
    await asyncio.sleep(0.6)
    assert [i.instance_id for i in await store.instances()] == [alive.instance_id]
    assert await store.deregister(dead.instance_id) is False
    # Its next heartbeat (after a long pause) brings it back.
    await store.register(dead, ttl=30)
    assert {i.instance_id for i in await store.instances("billing")} == {dead.instance_id, alive.instance_id}


async def test_schemas_are_written_once_per_version(store: RegistryStore) -> None:
    first = SchemaRecord("billing", "1.2.3", ACTIONS)
    assert await store.publish_schemas(first, ttl=30) is True
    changed = SchemaRecord("billing", "1.2.3", ({"name": "refund", "input_schema": {}, "output_schema": {}},))
    assert await store.publish_schemas(changed, ttl=30) is False
    [record] = await store.schemas("billing")
    assert record.key == "billing:1.2.3"
    assert [a["name"] for a in record.actions] == ["charge"]
    assert record.actions[0]["input_schema"] == ACTIONS[0]["input_schema"]
    # The second publication only extended the expiry: 30 s from then.
    assert (
        record.published_at > 0 and record.published_at + 30 - 0.01 <= record.expires_at <= time.time() + 30
    )


async def test_schemas_by_version_newest_first(store: RegistryStore) -> None:
    await store.publish_schemas(SchemaRecord("billing", "1.0.0", ACTIONS), ttl=30)
    await asyncio.sleep(0.01)
    await store.publish_schemas(SchemaRecord("billing", "2.0.0", ()), ttl=30)
    await store.publish_schemas(SchemaRecord("audit", "1.0.0", ACTIONS), ttl=30)
    assert [r.service_version for r in await store.schemas("billing")] == ["2.0.0", "1.0.0"]
    [only] = await store.schemas("billing", "1.0.0")
    assert only.action("charge") is not None and only.action("refund") is None
    assert await store.schemas("billing", "9.9.9") == []
    assert await store.schemas("nobody") == []


async def test_heartbeats_keep_their_version_schemas_alive(store: RegistryStore) -> None:
    await store.publish_schemas(SchemaRecord("billing", "1.2.3", ACTIONS), ttl=0.4)
    await store.publish_schemas(SchemaRecord("billing", "0.9.0", ACTIONS), ttl=0.4)
    await store.register(instance(service_version="1.2.3"), ttl=30)
    await asyncio.sleep(0.6)
    assert [r.service_version for r in await store.schemas("billing")] == ["1.2.3"]


async def test_an_expired_schema_record_can_be_published_again(store: RegistryStore) -> None:
    await store.publish_schemas(SchemaRecord("billing", "1.2.3", ACTIONS), ttl=0.3)
    await asyncio.sleep(0.5)
    assert await store.schemas("billing") == []
    renamed = ({"name": "refund", "input_schema": {}, "output_schema": {}},)
    assert await store.publish_schemas(SchemaRecord("billing", "1.2.3", renamed), ttl=30) is True
    [record] = await store.schemas("billing")
    assert [a["name"] for a in record.actions] == ["refund"]


async def test_open_and_close_are_idempotent(registry_url: str) -> None:
    st = store_from_url(registry_url)
    await st.open()
    await st.open()
    await st.ping()
    await st.close()
    await st.close()
