"""usvc-lib compatibility on a real MongoDB-wire server: its settings, collections, documents and indexes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_helpers import billing_app

from plugwork.registry import RegistryPlugin

pymongo = pytest.importorskip("pymongo")

USVC_INSTANCE_FIELDS = {
    "instance_id",
    "service_name",
    "service_version",
    "host",
    "port",
    "health_status",
    "health_checks",
    "last_heartbeat",
    "expires_at",
}


async def test_a_usvc_lib_consumer_reads_plugwork_instances(
    mongodb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PLUGWORK_REGISTRY_URL", "PLUGWORK_MONGODB_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONGODB_URI", mongodb_url)
    monkeypatch.setenv("MONGODB_HEARTBEAT_SECONDS", "0.2")
    monkeypatch.setenv("MONGODB_KEY_TTL_SECONDS", "5")
    app = billing_app("a", http_port=18999)
    async with app:
        assert app.plugin(RegistryPlugin) in app.active_plugins
        deadline = time.monotonic() + 10
        while app.health._checks["mongodb_registry"].status.name != "GREEN":
            assert time.monotonic() < deadline, "usvc-lib's mongodb_registry check never turned GREEN"
            await asyncio.sleep(0.05)

        def consumer() -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
            client: Any = pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000)
            try:
                db = client.get_default_database()
                # The queries of usvc-lib's documentation, unchanged.
                instances = list(
                    db.service_instances.find({"service_name": "billing", "health_status": "GREEN"})
                )
                schema = db.service_schemas.find_one({"service_name": "billing", "service_version": "1.0.0"})
                return (
                    instances,
                    schema,
                    db.service_instances.index_information(),
                    db.service_schemas.index_information(),
                )
            finally:
                client.close()

        # The first registration is made while the app starts (YELLOW); a later heartbeat says GREEN.
        while not (found := await asyncio.to_thread(consumer))[0]:
            assert time.monotonic() < deadline, "no GREEN billing instance in service_instances"
            await asyncio.sleep(0.05)
        instances, schema, instance_indexes, schema_indexes = found
    [doc] = instances
    assert set(doc) >= USVC_INSTANCE_FIELDS
    assert (doc["host"], doc["port"], doc["service_version"]) == ("127.0.0.1", 18999, "1.0.0")
    assert doc["expires_at"] > doc["last_heartbeat"]
    assert doc["transports"]["http"] == "http://127.0.0.1:18999"
    assert schema is not None
    assert {"service_name", "service_version", "actions", "published_at", "expires_at"} <= set(schema)
    charge = next(a for a in schema["actions"] if a["name"] == "charge")
    assert charge["input_schema"]["required"] == ["amount"]
    for indexes in (instance_indexes, schema_indexes):
        ttl = indexes["expires_at_ttl"]
        assert ttl["key"] == [("expires_at", 1)] and ttl["expireAfterSeconds"] == 0


async def test_documents_of_other_writers_do_not_break_discovery(mongodb_url: str) -> None:
    from plugwork.registry.models import Instance
    from plugwork.registry.stores.mongodb import MongoRegistryStore

    def write_foreign() -> None:
        client: Any = pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000)
        try:
            db = client.get_default_database()
            far = datetime.now(UTC) + timedelta(minutes=5)
            # A usvc-lib instance (no Plugwork fields) and a document that is nobody's.
            db.service_instances.insert_one(
                {
                    "instance_id": "usvc-1",
                    "service_name": "payment-service",
                    "service_version": "1.2.3",
                    "host": "10.0.1.42",
                    "port": 8000,
                    "health_status": "GREEN",
                    "health_checks": {},
                    "last_heartbeat": datetime.now(UTC),
                    "expires_at": far,
                }
            )
            db.service_instances.insert_one({"expires_at": far, "note": "not an instance"})
        finally:
            client.close()

    store = MongoRegistryStore(mongodb_url)
    await store.open()
    try:
        await asyncio.to_thread(write_foreign)
        await store.register(Instance("own", "billing", "1.0.0", "127.0.0.1", 1), ttl=30)
        found = {i.instance_id: i for i in await store.instances()}
        assert set(found) == {"own", "usvc-1"}
        assert found["usvc-1"].transports.http is None  # listed, but no calls go to it
    finally:
        await store.close()
