"""RestAPIService against a real local HTTP server that injects faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fault_server import FaultServer, free_port, running_fault_server
from pydantic import BaseModel

from plugwork import App
from plugwork.clients import RestAPIConfig, RestAPIService, retry_after_seconds, safe_url
from plugwork.config import load_settings
from plugwork.context import Context, current_context
from plugwork.errors import CircuitOpen, InvocationTimeout, RateLimited, Unavailable
from plugwork.middleware import CircuitState
from plugwork.observability.health import HealthStatus

FAST = {"RETRY_BACKOFF_BASE": 0.01, "RETRY_BACKOFF_MAX": 0.02}


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    async with running_fault_server() as srv:
        yield srv


async def started(base_url: str, **options: object) -> RestAPIService:
    svc = RestAPIService(App("clients-test"))
    svc.configure(RestAPIConfig.model_validate({"BASE_URL": base_url, **FAST, **options}))
    await svc.start()
    svc.state = type(svc.state).RUNNING
    return svc


async def test_retries_5xx_then_succeeds(server: FaultServer) -> None:
    svc = await started(server.url, MAX_RETRIES=3)
    try:
        response = await svc.request("GET", "/fail/a/2/503")
        assert response.status_code == 200
        assert len(server.hits["a"]) == 3
    finally:
        await svc.stop()


async def test_gives_up_after_max_retries_and_returns_the_last_response(server: FaultServer) -> None:
    svc = await started(server.url, MAX_RETRIES=2, CB_FAILURE_THRESHOLD=10)
    try:
        response = await svc.request("GET", f"{server.url}/fail/b/99/500")  # absolute URLs work too
        assert response.status_code == 500
        assert response.json() == {"error": "injected"}
        assert len(server.hits["b"]) == 3
    finally:
        await svc.stop()


async def test_non_idempotent_methods_are_not_retried_unless_told(server: FaultServer) -> None:
    svc = await started(server.url, MAX_RETRIES=3, CB_FAILURE_THRESHOLD=10)
    try:
        assert (await svc.request("POST", "/fail/c/1/502", json={"x": 1})).status_code == 502
        assert len(server.hits["c"]) == 1
        assert (await svc.request("POST", "/fail/d/1/502", retry=True)).status_code == 200
        assert len(server.hits["d"]) == 2
        assert (await svc.request("PUT", "/fail/e/1/502")).status_code == 200  # PUT is idempotent
        assert len(server.hits["e"]) == 2
    finally:
        await svc.stop()


async def test_4xx_is_not_retried(server: FaultServer) -> None:
    svc = await started(server.url)
    try:
        assert (await svc.request("GET", "/fail/f/1/404")).status_code == 404
        assert len(server.hits["f"]) == 1
        assert svc.breaker.state is CircuitState.CLOSED
    finally:
        await svc.stop()


async def test_429_honours_retry_after(server: FaultServer) -> None:
    svc = await started(server.url, RETRY_BACKOFF_BASE=0.0)
    try:
        response = await svc.request("GET", "/limited/g/1/1")
        assert response.status_code == 200
        first, second = server.hits["g"]
        # Without Retry-After the backoff base of 0 would retry at once: the gap is the server's ask.
        assert second - first >= 0.99
    finally:
        await svc.stop()


async def test_retry_after_is_capped(server: FaultServer) -> None:
    svc = await started(server.url, RETRY_AFTER_MAX_SECONDS=0.0)
    try:
        assert (await svc.request("GET", "/limited/h/1/3600")).status_code == 200
    finally:
        await svc.stop()


async def test_slow_answers_time_out_and_are_retried(server: FaultServer) -> None:
    svc = await started(server.url, REQUEST_TIMEOUT_SECONDS=0.1, MAX_RETRIES=1)
    try:
        with pytest.raises(InvocationTimeout):
            await svc.request("GET", "/slow/2")
        assert len(server.hits["slow"]) == 2
    finally:
        await svc.stop()


async def test_total_time_is_bounded_by_the_invocation_deadline(server: FaultServer) -> None:
    svc = await started(server.url, REQUEST_TIMEOUT_SECONDS=30, MAX_RETRIES=5)
    token = current_context.set(Context(deadline=asyncio.get_running_loop().time() + 0.2))
    try:
        with pytest.raises(InvocationTimeout):
            await svc.request("GET", "/slow/5")
        assert len(server.hits["slow"]) == 1  # no time was left for a second attempt
    finally:
        current_context.reset(token)
        await svc.stop()


async def test_refused_connections_open_the_breaker_then_fail_fast() -> None:
    svc = await started(f"http://127.0.0.1:{free_port()}", MAX_RETRIES=1, CB_FAILURE_THRESHOLD=3)
    try:
        with pytest.raises(Unavailable) as first:
            await svc.request("POST", "/charges")  # a refused POST never left: retried once
        assert "unreachable" in first.value.message
        assert svc.breaker.state is CircuitState.CLOSED
        assert svc.health_check()[0] is HealthStatus.GREEN
        with pytest.raises(Unavailable):
            await svc.request("GET", "/x")
        assert svc.breaker.state is CircuitState.OPEN
        status, details = svc.health_check()
        assert status is HealthStatus.RED and details["circuit"] == "open"
        with pytest.raises(CircuitOpen) as fast:
            await svc.request("GET", "/x")
        assert fast.value.details["retry_after"] > 0
    finally:
        await svc.stop()


async def test_breaker_half_opens_and_closes_again(server: FaultServer) -> None:
    svc = await started(
        server.url, MAX_RETRIES=0, CB_FAILURE_THRESHOLD=2, CB_RECOVERY_TIMEOUT=0.05, CB_SUCCESS_THRESHOLD=2
    )
    try:
        for _ in range(2):
            assert (await svc.request("GET", "/fail/i/2/500")).status_code == 500
        assert svc.health_check()[0] is HealthStatus.RED
        await asyncio.sleep(0.06)
        assert svc.breaker.state is CircuitState.HALF_OPEN
        assert svc.health_check()[0] is HealthStatus.YELLOW
        assert (await svc.request("GET", "/ok")).status_code == 200
        assert svc.breaker.state is CircuitState.HALF_OPEN
        assert (await svc.request("GET", "/ok")).status_code == 200
        assert svc.breaker.state is CircuitState.CLOSED
        assert svc.health_check()[0] is HealthStatus.GREEN
    finally:
        await svc.stop()


async def test_health_is_yellow_while_retrying(server: FaultServer) -> None:
    svc = await started(server.url, RETRY_BACKOFF_BASE=0.0)
    try:
        call = asyncio.create_task(svc.request("GET", "/limited/j/1/1"))
        while len(server.hits["j"]) < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        status, details = svc.health_check()
        assert status is HealthStatus.YELLOW and details["retrying"] == 1
        assert (await call).status_code == 200
        assert svc.health_check()[0] is HealthStatus.GREEN
    finally:
        await svc.stop()


async def test_rate_limit_waits_within_its_bound_then_refuses(server: FaultServer) -> None:
    svc = await started(
        server.url, RATE_LIMIT_REQUESTS=2, RATE_LIMIT_WINDOW_SECONDS=0.2, RATE_LIMIT_MAX_WAIT_SECONDS=1.0
    )
    try:
        for _ in range(3):  # the third waits ~0.1 s for a token
            assert (await svc.request("GET", "/ok")).status_code == 200
        assert len(server.hits["ok"]) == 3
    finally:
        await svc.stop()
    svc = await started(
        server.url, RATE_LIMIT_REQUESTS=1, RATE_LIMIT_WINDOW_SECONDS=60, RATE_LIMIT_MAX_WAIT_SECONDS=0.5
    )
    try:
        await svc.request("GET", "/ok")
        with pytest.raises(RateLimited) as refused:
            await svc.request("GET", "/ok")
        assert refused.value.details["retry_after"] > 0.5
        assert len(server.hits["ok"]) == 4
    finally:
        await svc.stop()


async def test_response_bodies_are_bounded(server: FaultServer) -> None:
    svc = await started(server.url, MAX_RESPONSE_BYTES=1000)
    try:
        assert (await svc.request("GET", "/big/1000")).content == b"x" * 1000
        with pytest.raises(Unavailable):
            await svc.request("GET", "/big/1001")
    finally:
        await svc.stop()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("https://user:secret@api.example.com:8443/v1?token=abc#x") == (
        "https://api.example.com:8443/v1"
    )


class Empty(BaseModel):
    pass


class PaymentAPI(RestAPIService):
    name = "payment_api"
    config = RestAPIConfig(BASE_URL="http://payments.invalid", MAX_RETRIES=3, CB_FAILURE_THRESHOLD=5)

    async def ping(self) -> dict[str, object]:
        response = await self.request("GET", "/ok")
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result


async def test_settings_from_yaml_and_environment_override_the_class_config(
    server: FaultServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "plugwork.yaml"
    config.write_text(
        f"queue_url: none\nplugboard_url: ''\nservices:\n  payment_api:\n    BASE_URL: {server.url}\n"
        "    rate_limit_requests: 7\n"
    )
    monkeypatch.setenv("PLUGWORK_SERVICES__PAYMENT_API__CB_SUCCESS_THRESHOLD", "4")
    app = App("clients-test", services=[PaymentAPI], settings=load_settings(config, env_file=None))

    @app.action("ping")
    async def ping(body: Empty, api: PaymentAPI) -> dict[str, object]:
        return await api.ping()

    async with app:
        api = app.container.get("payment_api")  # type: ignore[union-attr]
        assert isinstance(api, PaymentAPI)
        cfg = api.config
        assert (server.url, 7, 4) == (cfg.BASE_URL, cfg.RATE_LIMIT_REQUESTS, cfg.CB_SUCCESS_THRESHOLD)
        assert (cfg.MAX_RETRIES, cfg.CB_FAILURE_THRESHOLD) == (3, 5)  # the class's own
        outcome = await app.invoke("ping", {}, context=Context(correlation_id="corr-123"))
        assert outcome.ok, outcome.error
        assert server.headers[-1]["x-correlation-id"] == "corr-123"
        report = await app.health.report()
        assert report.checks["payment_api"]["status"] == "GREEN"
        from prometheus_client import generate_latest

        text = generate_latest(app.metrics_registry).decode()
        assert 'plugwork_client_requests_total{method="GET",status="200",upstream="payment_api"} 1.0' in text
        assert 'plugwork_client_circuit_state{upstream="payment_api"} 0.0' in text


async def test_unknown_options_name_the_key(tmp_path) -> None:
    from plugwork.errors import ConfigError

    app = App(
        "clients-test",
        services=[PaymentAPI],
        settings=load_settings(
            env_file=None, queue_url="none", plugboard_url="", services={"payment_api": {"RETRIES": 1}}
        ),
    )
    with pytest.raises(ConfigError, match=r"services\.payment_api\.RETRIES"):
        await app.start()
