"""Services: lifecycle states, dependency order, cycles, failed starts, health and configuration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from core_helpers import OFFLINE
from plugwork import (
    App,
    AppState,
    ConfigError,
    DependencyError,
    HealthRegistry,
    HealthStatus,
    Service,
    ServiceError,
    ServiceState,
    Settings,
    action,
)
from plugwork.services import Container
from plugwork.testing import TestClient

EVENTS: list[str] = []


@pytest.fixture(autouse=True)
def clear_events() -> None:
    EVENTS.clear()


class Recorder(Service):
    """Records its lifecycle calls, with the state it was in at that moment."""

    async def start(self) -> None:
        EVENTS.append(f"start {self.name} {self.state.value}")

    async def stop(self) -> None:
        EVENTS.append(f"stop {self.name} {self.state.value}")


class Database(Recorder):
    pass


class Cache(Recorder):
    def __init__(self, db: Database) -> None:
        self.db = db


class Api(Recorder):
    def __init__(self, cache: Cache, db: Database, settings: Settings) -> None:
        self.cache, self.db, self.settings = cache, db, settings


class Broken(Recorder):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self) -> None:
        EVENTS.append("start broken")
        raise ConnectionRefusedError("port 5432 refused")


class AfterBroken(Recorder):
    def __init__(self, broken: Broken) -> None:
        self.broken = broken


class Chicken(Service):
    def __init__(self, egg: Egg) -> None:
        self.egg = egg


class Egg(Service):
    def __init__(self, chicken: Chicken) -> None:
        self.chicken = chicken


class Unknown:
    pass


class NeedsUnknown(Service):
    def __init__(self, thing: Unknown) -> None:
        self.thing = thing


class OptionalThing(Service):
    def __init__(self, thing: Unknown | None = None) -> None:
        self.thing = thing


def container(*services: Any, sections: dict[str, Any] | None = None, **kw: Any) -> Container:
    c = Container(HealthRegistry(), sections=sections, **kw)
    c.provide(Settings, Settings(**OFFLINE))
    for svc in services:
        c.register(svc)
    c.build_all()
    return c


def test_service_names_default_to_snake_case() -> None:
    class ClientPool(Service):
        pass

    class Named(Service):
        name = "custom"

    assert Database.name == "database"
    assert ClientPool.name == "client_pool"
    assert Named.name == "custom"


async def test_state_transitions() -> None:
    c = container(Database)
    db = c.get("database")
    assert db.state is ServiceState.INITIALIZED
    await c.configure_all()
    assert db.state is ServiceState.CONFIGURED
    await c.start_all()
    assert db.state is ServiceState.RUNNING
    await c.stop_all()
    assert db.state is ServiceState.STOPPED
    assert EVENTS == ["start database starting", "stop database stopping"]


async def test_dependency_order_whatever_the_registration_order() -> None:
    c = container(Api, Cache, Database)
    assert [s.name for s in c.services] == ["database", "cache", "api"]
    await c.configure_all()
    await c.start_all()
    await c.stop_all()
    assert EVENTS == [
        "start database starting",
        "start cache starting",
        "start api starting",
        "stop api stopping",
        "stop cache stopping",
        "stop database stopping",
    ]
    api = c.get("api")
    assert isinstance(api, Api)
    assert api.cache.db is api.db  # one instance per type


async def test_dependencies_are_registered_automatically() -> None:
    c = container(Api)
    assert [s.name for s in c.services] == ["database", "cache", "api"]


def test_cycle_is_refused_with_a_clear_message() -> None:
    with pytest.raises(DependencyError, match=r"service dependency cycle: Chicken -> Egg -> Chicken"):
        container(Chicken)


def test_unresolvable_constructor_dependency() -> None:
    with pytest.raises(DependencyError, match=r"NeedsUnknown.*'thing'.*Unknown"):
        container(NeedsUnknown)


def test_optional_constructor_dependency_falls_back_to_default() -> None:
    c = container(OptionalThing)
    svc = c.get("optional_thing")
    assert isinstance(svc, OptionalThing) and svc.thing is None


def test_ready_made_instance_is_used_as_is() -> None:
    db = Database()
    c = container(db, Cache)
    cache = c.get("cache")
    assert isinstance(cache, Cache) and cache.db is db


async def test_failing_start_stops_started_services_and_reports_the_reason() -> None:
    app = App("t", services=[AfterBroken, Cache])
    with pytest.raises(ServiceError) as info:
        await TestClient(app, **OFFLINE).__aenter__()
    assert info.value.service == "broken"
    assert "ConnectionRefusedError: port 5432 refused" in str(info.value)
    assert EVENTS == [
        "start database starting",
        "start broken",
        # The failed one may clean up while what it depends on still runs; then the started ones stop.
        "stop broken stopping",
        "stop database stopping",
    ]
    assert app.state is AppState.FAILED
    assert app.failure is not None and "port 5432 refused" in app.failure
    assert app.container is not None
    states = {s.name: s.state for s in app.container.services}
    assert states["database"] is ServiceState.STOPPED
    assert states["broken"] is ServiceState.STOPPED
    # The reason stays on the service, for health and the management API.
    assert app.container.get("broken").error == "start failed: ConnectionRefusedError: port 5432 refused"
    # The service that depends on the broken one was never started, so never stopped either.
    assert not any("after_broken" in e for e in EVENTS)


async def test_start_timeout_is_a_service_error() -> None:
    never = asyncio.Event()

    class Hangs(Service):
        async def start(self) -> None:
            await never.wait()

    c = container(Hangs, start_timeout=0.01)
    await c.configure_all()
    with pytest.raises(ServiceError, match="start timed out"):
        await c.start_all()
    assert c.get("hangs").error == "start timed out after 0.01s"


async def test_failing_stop_is_kept_on_the_service_not_raised() -> None:
    class BadStop(Service):
        async def stop(self) -> None:
            raise OSError("disk gone")

    c = container(BadStop, Database)
    await c.configure_all()
    await c.start_all()
    await c.stop_all()
    bad = c.get("bad_stop")
    assert bad.state is ServiceState.ERROR and bad.error == "stop failed: OSError: disk gone"
    assert c.get("database").state is ServiceState.STOPPED  # the others still stop


# ------------------------------------------------------------------------------------------- health


class Pinger(Service):
    """Registers a health check of its own when it starts."""

    lag = 0

    async def start(self) -> None:
        self.health.register("pinger_lag", self.check_lag)

    def check_lag(self) -> tuple[str, dict[str, Any]]:
        return ("GREEN" if self.lag < 10 else "YELLOW"), {"lag": self.lag}


class AsyncHealth(Service):
    healthy = True

    async def health_check(self) -> HealthStatus:  # type: ignore[override]
        await asyncio.sleep(0)
        return HealthStatus.GREEN if self.healthy else HealthStatus.RED


async def test_service_registered_and_state_derived_health_checks() -> None:
    app = App("t", services=[Pinger, AsyncHealth])
    async with TestClient(app, **OFFLINE):
        report = await app.health.report()
        assert report.status is HealthStatus.GREEN
        assert set(report.checks) == {"app", "pinger", "pinger_lag", "async_health"}
        assert report.checks["pinger"] == {"status": "GREEN", "details": {"state": "running"}}
        assert report.checks["pinger_lag"] == {"status": "GREEN", "details": {"lag": 0}}

        assert app.container is not None
        pinger = app.container.get("pinger")
        assert isinstance(pinger, Pinger)
        pinger.lag = 50
        report = await app.health.report()
        assert report.status is HealthStatus.YELLOW
        assert report.checks["pinger_lag"]["details"] == {"lag": 50}

        slow = app.container.get("async_health")
        assert isinstance(slow, AsyncHealth)
        slow.healthy = False
        report = await app.health.report()
        assert report.status is HealthStatus.RED  # the worst check wins
        assert report.http_status == 503

        pinger.set_error("lost connection")
        slow.healthy = True
        report = await app.health.report()
        assert report.checks["pinger"] == {
            "status": "RED",
            "details": {"state": "error", "error": "lost connection"},
        }


async def test_health_check_that_raises_is_red() -> None:
    class Crashing(Service):
        def health_check(self) -> HealthStatus:  # type: ignore[override]
            raise RuntimeError("probe failed")

    app = App("t", services=[Crashing])
    async with TestClient(app, **OFFLINE):
        report = await app.health.report()
    assert report.checks["crashing"] == {"status": "RED", "details": {"error": "RuntimeError: probe failed"}}


# ------------------------------------------------------------------------------------------- config


class PoolConfig(BaseModel):
    size: int = Field(4, ge=1)
    host: str = "localhost"


class Pool(Service):
    config_model = PoolConfig
    config: PoolConfig

    async def start(self) -> None:
        EVENTS.append(f"pool {self.config.host}:{self.config.size}")


class NeedsPool(BaseModel):
    n: int = 0


@action
async def use_pool(input: NeedsPool, pool: Pool) -> dict[str, Any]:
    return {"size": pool.config.size}


async def test_config_section_is_validated_and_applied() -> None:
    app = App("t", actions=[use_pool])
    services = {"pool": {"size": 16, "host": "db.internal"}}
    async with TestClient(app, services=services, **OFFLINE) as client:
        assert await client.call("use_pool") == {"size": 16}
    assert EVENTS == ["pool db.internal:16"]


async def test_defaults_without_a_section() -> None:
    async with TestClient(App("t", actions=[use_pool]), **OFFLINE) as client:
        assert await client.call("use_pool") == {"size": 4}


async def test_invalid_config_fails_start_naming_the_key() -> None:
    app = App("t", actions=[use_pool])
    with pytest.raises(ConfigError) as info:
        await TestClient(app, services={"pool": {"size": 0}}, **OFFLINE).__aenter__()
    assert info.value.key == "services.pool.size"
    assert str(info.value).startswith("services.pool.size:")
    assert app.state is AppState.FAILED
    assert EVENTS == []


async def test_disabled_service_needed_by_an_action_fails_start() -> None:
    app = App("t", actions=[use_pool])
    with pytest.raises(DependencyError, match=r"'pool' is disabled in configuration \(services.pool\)"):
        await TestClient(app, services={"pool": {"enabled": False}}, **OFFLINE).__aenter__()


async def test_autostart_false_leaves_the_service_configured_but_stopped() -> None:
    app = App("t", actions=[use_pool])
    async with TestClient(app, services={"pool": {"autostart": False, "size": 2}}, **OFFLINE) as client:
        assert app.container is not None
        pool = app.container.get("pool")
        assert pool.state is ServiceState.CONFIGURED and pool.autostart is False
        assert EVENTS == []
        report = await app.health.report(required_only=True)
        assert "pool" not in report.checks  # not required: readiness does not wait for it
        await app.container.start_one(pool)
        assert pool.state is ServiceState.RUNNING
        assert EVENTS == ["pool localhost:2"]
        assert await client.call("use_pool") == {"size": 2}


async def test_disabled_service_nobody_needs_is_left_out() -> None:
    app = App("t", services=[Pool, Database])
    async with TestClient(app, services={"pool": {"enabled": False, "size": 0}}, **OFFLINE):
        assert app.container is not None
        assert [s.name for s in app.container.services] == ["database"]
        assert "pool" not in (await app.health.report()).checks
    assert EVENTS == ["start database starting", "stop database stopping"]


def test_default_service_names_split_acronyms() -> None:
    from plugwork import Service

    class HTTPClientPool(Service):
        pass

    class Greeter(Service):
        pass

    assert HTTPClientPool.name == "http_client_pool"
    assert Greeter.name == "greeter"
