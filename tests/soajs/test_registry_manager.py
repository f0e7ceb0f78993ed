"""RegistryManager: typed loading, throttled reloads, last-good on failure, the period from the registry."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from soajs_data import envelope, registry_data

from plugwork import HealthStatus
from plugwork.soajs import (
    CustomNotFoundError,
    DatabaseNotFoundError,
    RegistryError,
    RegistryManager,
    ResourceNotFoundError,
    ServiceNotFoundError,
)


class FakeGateway:
    """An httpx transport answering getRegistry as scripted, counting calls."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.calls: list[httpx.Request] = []
        self.default: Any = (200, envelope(registry_data()))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, content=body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def manager(gateway: FakeGateway, clock: Clock | None = None, **options: Any) -> RegistryManager:
    return RegistryManager(
        "pwgreeter",
        "DEV",
        auto_reload=False,
        registry_api="gw.example:5000",
        transport=gateway.transport,
        clock=clock or Clock(),
        **options,
    )


def test_load_queries_get_registry_and_types_the_answer() -> None:
    gateway = FakeGateway()
    registry = manager(gateway)
    request = gateway.calls[0]
    assert str(request.url) == "http://gw.example:5000/getRegistry?env=dev&serviceName=pwgreeter&type=service"
    assert registry.registry.service_type == "service"
    assert registry.get_database("provision").name == "core_provision"
    assert registry.get_database("urac").cluster == "c1"
    assert set(registry.get_all_databases()) == {"provision", "urac"}
    assert registry.get_service("pwgreeter").port == 8000
    assert registry.get_resource("mongo1").config == {"x": 1}
    assert registry.get_custom("plugworkCustom")["value"] == {"answer": 42}
    assert set(registry.get_custom()) == {"plugworkCustom"}
    assert registry.get_custom_entry("plugworkCustom").shared is True
    for call, error in [
        (lambda: registry.get_database("x"), DatabaseNotFoundError),
        (lambda: registry.get_service("x"), ServiceNotFoundError),
        (lambda: registry.get_resource("x"), ResourceNotFoundError),
        (lambda: registry.get_custom("x"), CustomNotFoundError),
    ]:
        with pytest.raises(error, match="not found: x"):
            call()
    with pytest.raises(KeyError):  # the not-found errors are KeyErrors too
        registry.get_service("x")


def test_first_load_failure_names_the_url_and_the_gateway_codes() -> None:
    gateway = FakeGateway()
    gateway.answers.append((200, envelope(result=False, errors=[{"code": 144, "message": "wrong env"}])))
    with pytest.raises(RegistryError) as info:
        manager(gateway)
    assert info.value.codes == (144,)
    assert "http://gw.example:5000/getRegistry" in str(info.value) and "[144] wrong env" in str(info.value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((500, b"boom"), "HTTP 500"),
        ((200, b"<html>"), "not JSON"),
        ((200, envelope(result=False)), "result=false"),
        ((200, envelope(None)), "no registry data"),
        ((200, envelope({"name": "dev", "services": {"a": {"port": "x"}}})), "services.a.port"),
        (httpx.ConnectError("refused"), "ConnectError"),
    ],
)
def test_first_load_failures(answer: Any, message: str) -> None:
    gateway = FakeGateway()
    gateway.answers.append(answer)
    with pytest.raises(RegistryError, match=message):
        manager(gateway)


def test_bad_registry_api_addresses() -> None:
    for address in ["", "nohost", "host:port", "host:99999", "http://host:5000/x"]:
        with pytest.raises(RegistryError, match="SOAJS_REGISTRY_API"):
            RegistryManager("s", "dev", registry_api=address, load=False)


def test_registry_api_and_env_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAJS_REGISTRY_API", "envhost:5001")
    monkeypatch.setenv("SOAJS_ENV", "STG")
    registry = RegistryManager("s", load=False)
    assert registry.api.base == "http://envhost:5001" and registry.params["env"] == "stg"


def test_reload_is_throttled_to_once_a_second() -> None:
    gateway, clock = FakeGateway(), Clock()
    registry = manager(gateway, clock)
    assert registry.reload() is False  # the first load was just now
    clock.now += 0.5
    assert registry.reload() is False
    clock.now += 0.6
    assert registry.reload() is True
    assert registry.reload() is False
    assert len(gateway.calls) == 2
    assert registry.reload(force=True) is True  # force skips the throttle


async def test_areload_is_throttled_too() -> None:
    gateway, clock = FakeGateway(), Clock()
    registry = RegistryManager(
        "s", "dev", registry_api="gw:5000", transport=gateway.transport, clock=clock, load=False
    )
    await registry.aload()
    assert await registry.areload() is False
    clock.now += 1.0
    assert await registry.areload() is True
    assert len(gateway.calls) == 2
    await registry.astop()


def test_one_reload_at_a_time_across_threads() -> None:
    gateway, clock = FakeGateway(), Clock()
    registry = manager(gateway, clock)
    clock.now += 10
    release = threading.Event()
    entered = threading.Event()
    original = registry.api.get_registry

    def slow(params: Any) -> Any:
        entered.set()
        release.wait(5)
        return original(params)

    registry.api.get_registry = slow  # type: ignore[method-assign]
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(registry.reload()))
    worker.start()
    entered.wait(5)
    clock.now += 10
    assert registry.reload() is False  # another reload is running
    release.set()
    worker.join(5)
    assert results == [True]


def test_failed_reload_keeps_the_last_good_registry_and_turns_health_yellow() -> None:
    gateway, clock = FakeGateway(), Clock()
    registry = manager(gateway, clock)
    good = registry.registry
    assert registry.health()[0] is HealthStatus.GREEN
    clock.now += 2
    gateway.answers.append(httpx.ConnectError("gateway down"))
    assert registry.reload() is False
    assert registry.registry is good
    status, details = registry.health()
    assert status is HealthStatus.YELLOW and "gateway down" in details["error"]
    assert details["stale_seconds"] == 2
    clock.now += 2
    assert registry.reload() is True
    assert registry.health()[0] is HealthStatus.GREEN and registry.registry is not good


def test_health_is_red_before_the_first_load() -> None:
    registry = RegistryManager("s", "dev", registry_api="gw:5000", load=False)
    assert registry.health()[0] is HealthStatus.RED
    with pytest.raises(RegistryError, match="not loaded"):
        _ = registry.registry


def test_reload_period_comes_from_the_registry_with_a_one_second_floor() -> None:
    gateway = FakeGateway()
    registry = manager(gateway)
    assert registry.reload_period == 5.0  # autoRelaodRegistry: 5000 ms
    gateway.default = (200, envelope(registry_data(serviceConfig={"awareness": {"autoReloadRegistry": 10}})))
    registry.reload(force=True)
    assert registry.reload_period == 1.0


def test_auto_reload_thread_reloads_at_the_registry_period() -> None:
    gateway = FakeGateway()
    data = registry_data(serviceConfig={"awareness": {"autoRelaodRegistry": 1000}})
    gateway.default = (200, envelope(data))
    reloaded = threading.Event()
    registry = RegistryManager("s", "dev", registry_api="gw:5000", transport=gateway.transport)
    try:
        original = registry._store

        def store(new: Any) -> Any:
            reloaded.set()
            return original(new)

        registry._store = store  # type: ignore[method-assign]
        assert reloaded.wait(10), "no automatic reload"
        assert len(gateway.calls) >= 2
    finally:
        registry.stop()
    assert registry._thread is None


def test_manual_deployment_registers_with_mw_and_again_when_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """soajs-python's manual deployment (a WSGI app's path): the registration thread keeps it registered."""
    import json

    monkeypatch.setenv("SOAJS_DEPLOY_MANUAL", "true")
    registered: list[dict[str, Any]] = []
    known = {"value": False}
    again = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/register":
            registered.append(json.loads(request.content))
            known["value"] = True
            if len(registered) == 2:
                again.set()
            return httpx.Response(200, content=envelope({"ok": True}))
        if request.url.path == "/awarenessStat":
            hosts = {"1": ["10.0.0.2"]} if known["value"] else {}
            return httpx.Response(200, content=envelope({"services": {"svc": {"hosts": hosts}}}))
        return httpx.Response(200, content=envelope(registry_data()))

    registry = RegistryManager(
        "svc",
        "dev",
        registry_api="gw:5000",
        transport=httpx.MockTransport(handler),
        auto_reload=False,
        service_port=4100,
        service_ip="10.0.0.2",
        service_group="shop",
        register_check_seconds=0.05,
    )
    try:
        [body] = registered
        assert body["mw"] is True and "middleware" not in body
        assert (body["name"], body["port"], body["group"], body["version"], body["ip"]) == (
            "svc",
            4100,
            "shop",
            "1",
            "10.0.0.2",
        )
        known["value"] = False  # the gateway restarted and forgot this host
        assert again.wait(10), "not registered again"
    finally:
        registry.stop()
