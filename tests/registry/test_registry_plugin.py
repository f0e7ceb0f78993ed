"""The registry plugin inside real apps: registration, schemas, heartbeats, health, discovery, calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from registry_helpers import billing_app, free_port, serving

from plugwork import App, Context, action
from plugwork.config import Settings
from plugwork.errors import ConfigError
from plugwork.registry.models import Instance, SchemaRecord
from plugwork.registry.plugin import RegistryPlugin, registry_of, remote
from plugwork.registry.store import RegistryUnavailable
from plugwork.registry.stores.memory import MemoryRegistryStore
from plugwork.registry.view import Registry

FAST = {"heartbeat_seconds": 0.1, "ttl_seconds": 2.0}


class FlakyStore(MemoryRegistryStore):
    """A memory store whose registrations fail while ``broken`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    async def register(self, instance: Instance, ttl: float) -> Instance:
        if self.broken:
            raise RegistryUnavailable("the store is down")
        return await super().register(instance, ttl)


class CheckoutIn(BaseModel):
    cart: str = "c1"


def caller_app(store: MemoryRegistryStore, **settings: Any) -> App:
    """A 'shop' service that calls billing from an action (the registry injected by type)."""

    @action("checkout")
    async def checkout(input: CheckoutIn, ctx: Context, registry: Registry) -> dict[str, Any]:
        out = await registry.remote("billing").call("charge", {"amount": 5})
        return {"served_by": out["instance"], "same_correlation": out["correlation_id"] == ctx.correlation_id}

    values: dict[str, Any] = {"name": "shop", "queue_url": "none", **settings}
    app = App(actions=[checkout], settings=Settings(**values))
    app.plugin(RegistryPlugin).configure(store=store, http=False, **FAST)
    return app


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def billing(store: MemoryRegistryStore) -> AsyncIterator[App]:
    app = billing_app("a", http_port=free_port())
    app.plugin(RegistryPlugin).configure(store=store, metadata={"zone": "eu-1"}, **FAST)
    async with serving(app, app.settings.http_port):
        yield app


@pytest.fixture
def store() -> MemoryRegistryStore:
    return MemoryRegistryStore()


async def test_an_instance_registers_with_transports_and_metadata(
    store: MemoryRegistryStore, billing: App
) -> None:
    # The first registration happens while the app starts (YELLOW); the next heartbeats say GREEN.
    def reported() -> bool:
        # A heartbeat whose health probe timed out (a loaded machine) repeats the last known health.
        found = list(store._instances.values())
        return bool(found) and found[0].health_status == "GREEN" and "app" in found[0].health_checks

    await wait_for(reported)
    [inst] = await store.instances("billing")
    port = billing.settings.http_port
    assert inst.instance_id == registry_of(billing).instance_id
    assert (inst.service_version, inst.host, inst.port) == ("1.0.0", "127.0.0.1", port)
    assert inst.transports.http == f"http://127.0.0.1:{port}"
    assert inst.transports.queues == () and inst.transports.plugboard is None  # queue_url: none
    assert inst.metadata == {"zone": "eu-1"}
    assert inst.started_at <= time.time()
    assert inst.health_status == "GREEN" and "app" in inst.health_checks
    assert "registry" not in inst.health_checks  # its own check is not what callers need


async def test_schemas_are_published_once_per_version(store: MemoryRegistryStore, billing: App) -> None:
    [record] = await store.schemas("billing")
    assert record.key == "billing:1.0.0"
    charge = record.action("charge")
    assert charge is not None and charge["queue"] == "billing"
    assert charge["input_schema"]["properties"]["amount"]["exclusiveMinimum"] == 0


async def test_discovery_and_calls_between_two_apps(store: MemoryRegistryStore, billing: App) -> None:
    async with caller_app(store) as shop:
        registry = shop.get(Registry)
        assert registry.services() == {"billing": ["1.0.0"], "shop": ["0.0.0"]}
        [shop_instance] = registry.instances("shop")
        assert shop_instance.transports.http is None  # http=False: a worker-only process
        outcome = await shop.call("checkout")
        assert outcome == {"served_by": "a", "same_correlation": True}
        assert (await remote(shop, "billing").call("charge", {"amount": 1}))["instance"] == "a"


async def test_deregisters_on_graceful_stop(store: MemoryRegistryStore, billing: App) -> None:
    async with caller_app(store):
        assert {i.service_name for i in await store.instances()} == {"billing", "shop"}
    assert {i.service_name for i in await store.instances()} == {"billing"}


async def test_the_view_follows_the_heartbeats(store: MemoryRegistryStore, billing: App) -> None:
    async with caller_app(store) as shop:
        registry = shop.get(Registry)
        late = await store.register(Instance("late", "audit", "2.0.0", "127.0.0.1", 1), ttl=30)
        await wait_for(lambda: "audit" in registry.services())
        await store.deregister(late.instance_id)
        await wait_for(lambda: "audit" not in registry.services())


async def test_health_is_yellow_on_a_failed_heartbeat_and_red_after_three() -> None:
    store = FlakyStore()
    app = caller_app(store)
    async with app:
        await wait_for(lambda: app.health._checks["registry"].status.name == "GREEN")
        store.broken = True
        seen: set[str] = set()

        def red() -> bool:
            seen.add(app.health._checks["registry"].status.name)
            return "RED" in seen

        await wait_for(red)
        assert "YELLOW" in seen
        report = await app.health.report()
        assert report.checks["registry"]["details"]["consecutive_failures"] >= 3
        assert "the store is down" in report.checks["registry"]["details"]["error"]
        store.broken = False
        await wait_for(lambda: app.health._checks["registry"].status.name == "GREEN")


async def test_a_blocked_event_loop_does_not_starve_the_heartbeat(store: MemoryRegistryStore) -> None:
    app = caller_app(store)
    async with app:
        [before] = await store.instances("shop")
        time.sleep(1.0)  # the app's loop is blocked: nothing on it runs
        [during] = await store.instances("shop")
        # Heartbeats went on from their own thread while the loop was blocked.
        assert during.last_heartbeat - before.last_heartbeat >= 0.5


async def test_get_registry_needs_its_token(store: MemoryRegistryStore) -> None:
    app = billing_app("a", http_port=free_port())
    app.plugin(RegistryPlugin).configure(store=store, http_token="s3cret-token", **FAST)
    async with serving(app, app.settings.http_port) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/registry")).status_code == 401
        wrong = await client.get("/registry", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "s3cret" not in wrong.text
        ok = await client.get("/registry", headers={"authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        body = ok.json()
        [entry] = body["services"]["billing"]["instances"]
        assert entry["instance_id"] == body["instance_id"]
        assert set(entry["health_checks"]["app"]) == {"status"}  # statuses only, no details
        assert "/registry" in (await client.get("/openapi.json")).json()["paths"]
        narrowed = await client.get(
            "/registry", params={"service": "nobody"}, headers={"authorization": "Bearer s3cret-token"}
        )
        assert narrowed.json()["services"] == {}


async def test_get_registry_is_not_served_without_a_token(billing: App) -> None:
    base = f"http://127.0.0.1:{billing.settings.http_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/registry")).status_code == 404
        assert "/registry" not in (await client.get("/openapi.json")).json()["paths"]


async def test_the_registry_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PLUGWORK_REGISTRY_URL", "MONGODB_URI", "PLUGWORK_MONGODB_URI", "PLUGWORK_REGISTRY_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    app = App(settings=Settings(queue_url="none"))
    async with app:
        assert not any(isinstance(p, RegistryPlugin) for p in app.active_plugins)
        with pytest.raises(Exception, match="Registry"):
            app.get(Registry)


async def test_registry_url_setting_selects_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PLUGWORK_REGISTRY_URL", f"sqlite:///{tmp_path}/registry.db")
    monkeypatch.setenv("PLUGWORK_REGISTRY_HEARTBEAT_SECONDS", "0.2")
    monkeypatch.setenv("PLUGWORK_REGISTRY_TTL_SECONDS", "2")
    app = App(settings=Settings(name="solo", queue_url="none"))
    async with app:
        plugin = app.plugin(RegistryPlugin)
        assert plugin.settings.heartbeat_seconds == 0.2
        store = plugin._make_store()
        await store.open()
        try:
            assert [i.service_name for i in await store.instances()] == ["solo"]
            assert [r.key for r in await store.schemas("solo")] == ["solo:0.0.0"]
        finally:
            await store.close()


def test_ttl_must_outlast_the_heartbeat() -> None:
    app = App(settings=Settings(queue_url="none"))
    app.plugin(RegistryPlugin).configure(store=MemoryRegistryStore(), heartbeat_seconds=10, ttl_seconds=5)
    with pytest.raises(ConfigError, match="ttl_seconds"):
        app.preflight()


def test_usvc_lib_mongodb_names_select_the_mongodb_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugwork.registry.stores.mongodb import MongoRegistryStore

    monkeypatch.delenv("PLUGWORK_REGISTRY_URL", raising=False)
    monkeypatch.setenv("MONGODB_URI", "mongodb://user:pw@127.0.0.1:1/")
    monkeypatch.setenv("MONGODB_DATABASE", "fleet")
    monkeypatch.setenv("MONGODB_HEARTBEAT_SECONDS", "30")
    monkeypatch.setenv("MONGODB_KEY_TTL_SECONDS", "90")
    monkeypatch.setenv("MONGODB_MAX_POOL_SIZE", "4")
    app = App(settings=Settings(queue_url="none"))
    app.preflight()
    plugin = app.plugin(RegistryPlugin)
    settings = plugin.settings
    assert (settings.heartbeat_seconds, settings.ttl_seconds, settings.mongodb_database) == (30, 90, "fleet")
    assert plugin.enabled(app)
    store = plugin._make_store()
    assert isinstance(store, MongoRegistryStore) and store._database_name == "fleet"
    assert "pw" not in repr(settings)


def test_schema_record_shape_is_usvc_libs() -> None:
    doc = SchemaRecord(
        "billing", "1.0.0", ({"name": "charge", "input_schema": {}, "output_schema": {}},)
    ).to_document()
    assert set(doc) == {"service_name", "service_version", "actions", "published_at", "expires_at"}


async def test_enqueue_as_a_durable_job_on_the_targets_queue(
    store: MemoryRegistryStore, tmp_path: Any
) -> None:
    from plugwork.queue import JobQueue, JobStatus

    queue_url = f"sqlite:///{tmp_path}/jobs.db"
    billing = billing_app("a", queue_url=queue_url, polling_interval_seconds=0.05)
    billing.plugin(RegistryPlugin).configure(store=store, http=False, **FAST)
    shop = caller_app(store, queue_url=queue_url, worker=False)
    async with billing, shop:
        [inst] = shop.get(Registry).instances("billing")
        assert inst.transports.queues == ("billing", "default")
        job_id = await remote(shop, "billing").enqueue("charge", {"amount": 3})
        jobs = billing.get(JobQueue)

        async def done() -> bool:
            job = await jobs.get(job_id)
            return job is not None and job.status is JobStatus.COMPLETED

        deadline = time.monotonic() + 10
        while not await done():
            assert time.monotonic() < deadline, "the job was not run by billing's worker"
            await asyncio.sleep(0.05)
        job = await jobs.get(job_id)
        assert job is not None and job.queue == "billing" and job.result["instance"] == "a"


async def test_enqueue_without_a_job_queue_is_unavailable(store: MemoryRegistryStore, billing: App) -> None:
    from plugwork.errors import Unavailable

    async with caller_app(store) as shop:
        with pytest.raises(Unavailable, match="no job queue"):
            await remote(shop, "billing").enqueue("charge", {"amount": 3})


async def test_an_app_that_restarts_registers_again_with_a_new_id(store: MemoryRegistryStore) -> None:
    app = caller_app(store)
    async with app:
        first = app.get(Registry).instance_id
    assert await store.instances("shop") == []
    async with app:
        second = app.get(Registry).instance_id
        assert [i.instance_id for i in await store.instances("shop")] == [second]
    assert second != first and await store.instances("shop") == []


async def test_a_registry_outage_shows_in_health_but_keeps_the_instance_ready() -> None:
    store = FlakyStore()
    store.broken = True
    app = caller_app(store)
    async with app:
        await wait_for(lambda: app.health._checks["registry"].status.name == "RED")
        assert (await app.health.report(required_only=True)).checks.get("registry") is None
        assert (await app.health.report()).checks["registry"]["status"] == "RED"


def test_a_bad_registry_url_fails_before_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGWORK_REGISTRY_URL", "mysql://root:hunter2@db/x")
    app = App(settings=Settings(queue_url="none"))
    with pytest.raises(ConfigError, match="unsupported registry URL") as exc:
        app.preflight()
    assert "hunter2" not in str(exc.value)


def test_every_registry_setting_is_documented_and_read() -> None:
    import re
    from pathlib import Path

    from plugwork.registry.settings import RegistrySettings

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "registry.md").read_text()
    table = text.split("| Setting | Env names |", 1)[1].split("\n\n", 1)[0]
    documented = {
        name
        for cell in re.findall(r"^\| ([^|]+) \|", table, re.MULTILINE)
        for name in re.findall(r"`([a-z_]+)`", cell)
    }
    assert documented == set(RegistrySettings.model_fields)
    code = "\n".join(
        p.read_text()
        for p in (root / "src" / "plugwork" / "registry").glob("*.py")
        if p.name != "settings.py"
    )
    # ``enabled`` acts inside the settings model (its ``active`` property, read by the plugin).
    unread = [f for f in RegistrySettings.model_fields if f"settings.{f}" not in code and f != "enabled"]
    assert unread == [] and "settings.active" in code


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"metadata": {"blob": "x" * 20_000}}, "metadata"),
        ({"advertise_url": "ftp://10.0.0.1"}, "advertise_url"),
        ({"strategy": "fastest"}, "strategy"),
    ],
)
def test_bad_registry_settings_name_their_key(overrides: dict[str, Any], key: str) -> None:
    app = App(settings=Settings(queue_url="none"))
    app.plugin(RegistryPlugin).configure(store=MemoryRegistryStore(), **overrides)
    with pytest.raises(ConfigError) as exc:
        app.preflight()
    assert exc.value.key == f"plugins.registry.{key}"


async def test_a_stub_from_the_schemas_the_instance_published(
    store: MemoryRegistryStore, billing: App
) -> None:
    from plugwork.errors import InvalidInput

    async with caller_app(store) as shop:
        stub = await shop.get(Registry).remote("billing").stub()
        assert stub.record.key == "billing:1.0.0" and "charge" in stub.actions
        assert (await stub.charge(amount=4, currency="USD"))["instance"] == "a"
        with pytest.raises(InvalidInput) as bad:
            await stub.charge(amount=4, currency="DOLLARS")
        assert bad.value.details[0]["field"] == "currency"
