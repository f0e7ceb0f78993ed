"""``/health``, ``/health/live``, ``/health/ready`` and ``/metrics``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
from http_app import Options, make_app
from pydantic import BaseModel

from core_helpers import OFFLINE, metric_samples, sample
from plugwork import App, HealthStatus, Service, ServiceState, action
from plugwork.testing import TestClient

INVOCATIONS = "plugwork_invocations_total"
LATENCY_COUNT = "plugwork_invocation_duration_seconds_count"
LATENCY_BUCKET = "plugwork_invocation_duration_seconds_bucket"


class Required(Service):
    pass


class Optional(Service):
    required = False


class Probe(BaseModel):
    pass


@action
async def uses_both(input: Probe, a: Required, b: Optional) -> dict[str, str]:
    return {}


async def test_health_green(client: TestClient) -> None:
    response = await client.http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "GREEN"
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    assert body["checks"]["app"] == {"status": "GREEN", "details": {"state": "running"}}
    assert body["checks"]["greeter"]["status"] == "GREEN"


@pytest.mark.parametrize(
    ("statuses", "expected", "http_status"),
    [
        (["GREEN", "GREEN"], "GREEN", 200),
        (["GREEN", "YELLOW"], "YELLOW", 200),
        (["YELLOW", "GREEN", "RED"], "RED", 503),
        (["RED", "YELLOW"], "RED", 503),
    ],
)
async def test_health_is_the_worst_check(
    client: TestClient, statuses: list[str], expected: str, http_status: int
) -> None:
    for index, status in enumerate(statuses):
        if index % 2:  # pushed checks and pulled checks aggregate alike
            client.app.health.update(f"check{index}", status, {"n": index})
        else:
            client.app.health.register(f"check{index}", lambda s=status: (s, {"pulled": True}))
    response = await client.http.get("/health")
    assert response.status_code == http_status
    body = response.json()
    assert body["status"] == expected
    assert {f"check{i}": body["checks"][f"check{i}"]["status"] for i in range(len(statuses))} == {
        f"check{i}": s for i, s in enumerate(statuses)
    }


async def test_failing_check_is_red_with_the_reason(client: TestClient) -> None:
    def broken() -> HealthStatus:
        raise ConnectionError("redis unreachable")

    client.app.health.register("redis", broken)
    response = await client.http.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == {
        "status": "RED",
        "details": {"error": "ConnectionError: redis unreachable"},
    }


async def test_live_always_answers() -> None:
    app = make_app()
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/health/live")).status_code == 200  # even before start
    async with TestClient(app, **OFFLINE) as client:
        response = await client.http.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "alive"}


async def test_ready_only_after_start() -> None:
    app = App("t", actions=[uses_both])
    app.configure(**OFFLINE)
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        before = await http.get("/health/ready")
        assert before.status_code == 503
        assert before.json()["state"] == "created"
        async with app:
            during = await http.get("/health/ready")
            assert during.status_code == 200 and during.json()["status"] == "ready"
        after = await http.get("/health/ready")
        assert after.status_code == 503


async def test_ready_only_while_required_services_run() -> None:
    app = App("t", actions=[uses_both])
    async with TestClient(app, **OFFLINE) as client:
        assert app.container is not None
        required, optional = app.container.get("required"), app.container.get("optional")

        await app.container.stop_one(optional)
        response = await client.http.get("/health/ready")
        assert response.status_code == 200, "a non-required service does not gate readiness"
        assert "optional" not in response.json()["checks"]

        await app.container.stop_one(required)
        assert required.state is ServiceState.STOPPED
        response = await client.http.get("/health/ready")
        assert response.status_code == 503 and response.json()["status"] == "not ready"
        assert response.json()["services_down"] == ["required"]

        await app.container.start_one(required)
        assert (await client.http.get("/health/ready")).status_code == 200

        required.set_error("connection lost")
        response = await client.http.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["required"]["details"]["error"] == "connection lost"


# --------------------------------------------------------------------------------------------- metrics


async def scrape(client: TestClient) -> dict[Any, float]:
    response = await client.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return metric_samples(response.text)


async def test_invocations_by_action_and_outcome(client: TestClient) -> None:
    for payload in ({"name": "a"}, {"name": "b"}, {"name": ""}):
        await client.http.post("/actions/greet", json=payload)
    async with asyncio.timeout(10):  # fail fast should the timeout not fire
        await client.http.post("/actions/slow", json={})
    await client.http.post("/actions/nope", json={})
    await client.http.post("/actions/crash", json={})
    await client.call("greet", name="in-process")
    samples = await scrape(client)

    def count(action: str, outcome: str, transport: str = "http") -> float:
        return sample(samples, INVOCATIONS, action=action, transport=transport, outcome=outcome)

    assert count("greet", "OK") == 2
    assert count("greet", "VALIDATION_ERROR") == 1
    assert count("greet", "OK", transport="call") == 1
    assert count("slow", "TIMEOUT") == 1
    assert count("crash", "INTERNAL") == 1
    assert count("__unknown__", "UNKNOWN_ACTION") == 1  # unknown names never become label values
    assert not any(dict(labels).get("action") == "nope" for _, labels in samples)


async def test_latency_histogram_by_action(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        await client.http.post("/actions/greet", json={"name": name})
    async with asyncio.timeout(10):  # fail fast should the timeout not fire
        await client.http.post("/actions/slow", json={})
    samples = await scrape(client)
    assert sample(samples, LATENCY_COUNT, action="greet") == 3
    assert sample(samples, LATENCY_BUCKET, action="greet", le="+Inf") == 3
    assert sample(samples, LATENCY_COUNT, action="slow") == 1
    # The slow action waited for its 0.01 s timeout: never in the sub-millisecond bucket.
    assert sample(samples, LATENCY_BUCKET, action="slow", le="0.0005") == 0
    assert sample(samples, LATENCY_COUNT, action="defaults") == 0  # known actions are there from the start
    buckets = [
        v for (name, labels), v in samples.items() if name == LATENCY_BUCKET and ("action", "greet") in labels
    ]
    assert len(buckets) >= 10


async def test_in_flight_gauge() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    @action("hold")
    async def hold(input: Options) -> dict[str, bool]:
        entered.set()
        await release.wait()
        return {"held": True}

    async with TestClient(App("t", actions=[hold]), **OFFLINE) as client:
        assert sample(await scrape(client), "plugwork_invocations_in_flight") == 0
        task = asyncio.create_task(client.http.post("/actions/hold", json={}))
        async with asyncio.timeout(10):
            await entered.wait()
        assert sample(await scrape(client), "plugwork_invocations_in_flight") == 1
        release.set()
        response = await task
        assert response.json() == {"held": True}
        assert sample(await scrape(client), "plugwork_invocations_in_flight") == 0


@pytest.mark.parametrize(("status", "value"), [("GREEN", 2), ("YELLOW", 1), ("RED", 0)])
async def test_health_gauge(client: TestClient, status: str, value: int) -> None:
    client.app.health.update("probe", status)
    assert sample(await scrape(client), "plugwork_health_status") == value


async def test_metrics_reuse_recent_health_results() -> None:
    from plugwork import App
    from plugwork.testing import TestClient

    runs: list[int] = []

    def counted() -> str:
        runs.append(1)
        return "GREEN"

    app = App("scraped")
    async with TestClient(app, queue_url="none") as client:
        app.health.register("counted", counted)
        for _ in range(3):
            assert (await client.http.get("/metrics")).status_code == 200
        assert len(runs) == 1  # one run serves scrapes for a few seconds
        await client.http.get("/health")
        assert len(runs) == 2  # /health always runs the checks


async def test_405_lists_the_allowed_methods(client: TestClient) -> None:
    response = await client.http.delete("/health")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
