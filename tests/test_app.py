"""The App: lifecycle, registration, settings, in-process calls and the test client."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from core_helpers import OFFLINE, LogCapture, metric_samples, sample
from plugwork import (
    ActionError,
    App,
    AppState,
    ConfigError,
    Context,
    DefinitionError,
    ErrorCode,
    HealthStatus,
    Service,
    ServiceState,
    Settings,
    action,
    load_settings,
)
from plugwork.observability.metrics import render
from plugwork.testing import TestClient


class NameIn(BaseModel):
    name: str


class Greeter(Service):
    greeting = "Hello"

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}!"


@action
async def greet(input: NameIn, greeter: Greeter) -> dict[str, str]:
    return {"message": greeter.greet(input.name)}


async def test_lifecycle_as_async_context_manager() -> None:
    app = App("t", actions=[greet], settings=Settings(**OFFLINE))
    assert app.state is AppState.CREATED and not app.ready
    with pytest.raises(RuntimeError, match="not started"):
        _ = app.dispatcher
    async with app:
        assert app.state is AppState.RUNNING and app.ready
        assert app.container is not None
        assert app.container.get("greeter").state is ServiceState.RUNNING
        assert await app.call("greet", name="Ada") == {"message": "Hello, Ada!"}
        await app.start()  # starting a running app is a no-op
        assert app.state is AppState.RUNNING
    assert app.state is AppState.STOPPED and not app.ready
    assert app.container.get("greeter").state is ServiceState.STOPPED


async def test_start_and_stop_are_logged() -> None:
    app = App("logged", actions=[greet], settings=Settings(**OFFLINE))
    with LogCapture() as logs:
        async with app:
            pass
    (started,) = logs.events("app started")
    assert started["app"] == "logged" and started["actions"] == 1
    assert logs.events("app stopped")[0]["app"] == "logged"


async def test_failed_start_is_reported_in_state_and_health() -> None:
    class Failing(Service):
        async def start(self) -> None:
            raise RuntimeError("no network")

    app = App("t", services=[Failing], settings=Settings(**OFFLINE))
    with LogCapture() as logs, pytest.raises(Exception, match="no network"):
        await app.start()
    assert app.state is AppState.FAILED
    assert app.failure is not None and "no network" in app.failure
    report = await app.health.report()
    assert report.checks["app"]["status"] == "RED"
    assert "no network" in report.checks["app"]["details"]["error"]
    (line,) = logs.events("app start failed")
    assert "no network" in line["error"]


async def test_app_action_decorator_and_add_action() -> None:
    app = App("t")

    @app.action("hello", description="Registered on the app")
    async def hello(input: NameIn) -> dict[str, str]:
        return {"hi": input.name}

    @app.action
    def bare(input: NameIn) -> dict[str, str]:
        return {"bare": input.name}

    app.add_action(greet)
    assert set(app.actions) == {"hello", "bare", "greet"}
    assert app.actions["hello"].description == "Registered on the app"
    async with TestClient(app, **OFFLINE) as client:
        assert await client.call("hello", name="x") == {"hi": "x"}
        assert await client.call("bare", name="y") == {"bare": "y"}


async def test_add_service_instance_and_provide() -> None:
    class Marker:
        value = "provided"

    greeter = Greeter()
    greeter.greeting = "Hi"
    app = App("t", actions=[greet])
    app.add_service(greeter)
    marker = Marker()
    app.provide(Marker, marker)
    async with TestClient(app, **OFFLINE) as client:
        assert await client.call("greet", name="Ada") == {"message": "Hi, Ada!"}
        assert app.container is not None
        assert app.container.resolve(Marker) is marker
        assert app.container.resolve(App) is app
        assert app.container.resolve(Settings) is app.settings


async def test_configure_after_start_is_refused() -> None:
    app = App("t", actions=[greet])
    async with TestClient(app, **OFFLINE):
        with pytest.raises(DefinitionError):
            app.configure(http_port=1)


def test_settings_from_yaml_file_with_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GREETER_PORT", "9100")
    config = tmp_path / "plugwork.yaml"
    config.write_text("name: from-yaml\nhttp_port: ${GREETER_PORT}\nversion: ${VERSION:-1.2.3}\n")
    app = App(config_file=config)
    assert app.name == "from-yaml"
    assert app.settings.http_port == 9100 and app.settings.version == "1.2.3"
    app.configure(http_port=9200)
    assert app.settings.http_port == 9200


def test_explicit_settings_survive_configure() -> None:
    # The test client and the CLI call configure(); what the app was given must not be dropped.
    given = Settings(management_api=True, management_token="s3cret", max_body_bytes=10, **OFFLINE)
    app = App("t", settings=given)
    app.configure(http_port=9300)
    assert app.settings.management_api is True
    assert app.settings.management_token is not None
    assert app.settings.management_token.get_secret_value() == "s3cret"
    assert app.settings.max_body_bytes == 10 and app.settings.http_port == 9300


async def test_bad_config_fails_start_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNSET_FOR_TEST", raising=False)
    config = tmp_path / "plugwork.yaml"
    config.write_text("http_port: ${UNSET_FOR_TEST}\n")
    app = App("t", config_file=config)
    with pytest.raises(ConfigError) as info:
        await app.start()
    assert info.value.key == "http_port"
    assert "UNSET_FOR_TEST" in str(info.value)
    assert app.state is AppState.FAILED


async def test_invoke_returns_outcomes_and_call_raises() -> None:
    app = App("t", actions=[greet])
    async with TestClient(app, **OFFLINE) as client:
        ok = await client.invoke("greet", b'{"name": "Ada"}')
        assert ok.ok and ok.output == {"message": "Hello, Ada!"}
        ctx = Context("given-id")
        await client.invoke("greet", {"name": "B"}, context=ctx)
        assert ctx.action == "greet" and ctx.correlation_id == "given-id"
        bad = await client.invoke("greet", {})
        assert bad.error is not None and bad.error.code is ErrorCode.VALIDATION_ERROR
        with pytest.raises(ActionError) as info:
            await client.call("nope")
        assert info.value.code is ErrorCode.UNKNOWN_ACTION


async def test_catalog_lists_every_action_sorted() -> None:
    @action("b.second", description="Second", version="3")
    async def second(input: NameIn) -> NameIn:
        return input

    app = App("t", actions=[greet, second])
    names = [entry["name"] for entry in app.catalog()]
    assert names == ["b.second", "greet"]
    entry = app.catalog()[0]
    assert entry["version"] == "3" and entry["description"] == "Second"
    assert entry["output_schema"]["title"] == "NameIn"


async def test_app_health_check_follows_app_state() -> None:
    app = App("t", actions=[greet])
    async with TestClient(app, **OFFLINE):
        assert (await app.health.report()).status is HealthStatus.GREEN
    report = await app.health.report()
    assert report.checks["app"] == {"status": "YELLOW", "details": {"state": "stopped"}}


async def test_test_client_http_and_pipeline_share_one_app() -> None:
    app = App("t", actions=[greet])
    async with TestClient(app, **OFFLINE) as client:
        response = await client.http.post("/actions/greet", json={"name": "Ada"})
        assert response.status_code == 200 and response.json() == {"message": "Hello, Ada!"}
        assert await client.call("greet", {"name": "B"}) == {"message": "Hello, B!"}
    samples = metric_samples(render(app.metrics_registry))
    assert sample(samples, "plugwork_invocations_total", action="greet", transport="http", outcome="OK") == 1
    assert sample(samples, "plugwork_invocations_total", action="greet", transport="call", outcome="OK") == 1


def test_metrics_collectors_added_before_and_after_the_registry_is_made_are_all_scraped() -> None:
    from collections.abc import Iterator

    from prometheus_client import Counter
    from prometheus_client.core import GaugeMetricFamily

    class Fixed:
        def __init__(self, name: str) -> None:
            self.name = name

        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield GaugeMetricFamily(self.name, "a test gauge", value=7)

    app = App("t", actions=[greet])
    app.add_metrics_collector(Fixed("before_registry"))
    own = Counter("my_orders", "an app's own metric", registry=app.metrics_registry)  # makes the registry
    own.inc(3)
    app.add_metrics_collector(Fixed("after_registry"))
    samples = metric_samples(render(app.metrics_registry))
    assert sample(samples, "before_registry") == 7 and sample(samples, "after_registry") == 7
    assert sample(samples, "my_orders_total") == 3
    assert sample(samples, "plugwork_invocations_in_flight") == 0  # the app's own, added at creation


def test_load_settings_is_public() -> None:
    assert load_settings(None, env_file=None, http_port=1234).http_port == 1234


async def test_test_client_defaults_to_an_in_memory_queue_and_no_plugboard() -> None:
    from plugwork.queue import JobQueue

    app = App("t", actions=[greet])
    async with TestClient(app) as client:
        assert app.settings.queue_url == "memory://" and not app.settings.plugboard_url
        queue = app.get(JobQueue)
        assert await client.call("greet", name="Ada") == {"message": "Hello, Ada!"}
        job_id = await app.enqueue("greet", {"name": "Queued"})
        job = await queue.wait(job_id, timeout=10)
        assert job.status == "completed" and job.result == {"message": "Hello, Queued!"}
