"""The seed's health samples, timeouts, and the same checks in Plugwork's /health and /health/ready."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from seed_greeter import GreeterModule

from core_helpers import OFFLINE
from plugwork import App
from plugwork.events import ModuleHost
from plugwork.events.health import (
    CheckResult,
    HealthCheck,
    HealthStatus,
    create_callable_check,
    create_http_check,
    create_tcp_check,
)
from plugwork.testing import TestClient

state = {"db": True, "disk": 42}


def check_database() -> bool:
    return state["db"]


async def check_redis() -> bool:
    return True


def get_disk_usage() -> int:
    return state["disk"]


def test_health_sample() -> None:
    host = ModuleHost()
    host.register(GreeterModule())

    health = HealthCheck(host=host, version="1.0.0")

    # Add custom checks
    health.add_check("database", check_database, liveness=True, readiness=True)
    health.add_check("cache", check_redis, readiness=True)

    # Run checks
    report = health.check()
    assert report.status == HealthStatus.HEALTHY

    # Kubernetes probes
    liveness = health.liveness()  # Is the app running?
    readiness = health.readiness()  # Can it serve traffic?
    assert [c.name for c in liveness.checks] == ["database"]
    assert {c.name for c in readiness.checks} == {"modules", "database", "cache"}
    state["db"] = False
    try:
        assert health.readiness().status is HealthStatus.UNHEALTHY
    finally:
        state["db"] = True


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_check_helpers_sample() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    health = HealthCheck(version="1.0.0")
    try:
        # HTTP health check
        health.add_check("api", create_http_check("api", f"http://127.0.0.1:{port}/health"))

        # TCP connectivity check
        health.add_check("db", create_tcp_check("db", "127.0.0.1", port))

        # Simple callable check
        health.add_check(
            "disk",
            create_callable_check(
                "disk",
                lambda: get_disk_usage() < 90,
                healthy_message="Disk OK",
                unhealthy_message="Disk full",
            ),
        )
        report = health.check()
        assert report.status is HealthStatus.HEALTHY, report.to_dict()
        assert {c.name: c.message for c in report.checks}["disk"] == "Disk OK"

        health.add_check("api", create_http_check("api", f"http://127.0.0.1:{port}/broken"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        health.add_check("db", create_tcp_check("db", "127.0.0.1", closed_port, timeout=0.5))
        state["disk"] = 95
        checks = {c.name: c for c in health.check().checks}
        assert checks["api"].status is HealthStatus.UNHEALTHY and checks["api"].message == "HTTP 500"
        assert checks["db"].status is HealthStatus.UNHEALTHY
        assert checks["disk"].message == "Disk full"
    finally:
        state["disk"] = 42
        server.shutdown()


def test_a_slow_check_cannot_stall_a_probe() -> None:
    release = threading.Event()
    health = HealthCheck(timeout=0.2)
    health.add_check("stuck", lambda: release.wait(10))
    health.add_check("fine", lambda: True)
    started = time.monotonic()
    report = health.check()
    elapsed = time.monotonic() - started
    release.set()
    by_name = {c.name: c for c in report.checks}
    assert by_name["stuck"].status is HealthStatus.UNHEALTHY and "timed out" in by_name["stuck"].message
    assert by_name["fine"].status is HealthStatus.HEALTHY
    assert elapsed < 5  # bounded by the timeout, not by the 10 s check


def test_check_results_and_async_probe() -> None:
    health = HealthCheck()
    health.add_check("degraded", lambda: CheckResult("degraded", HealthStatus.DEGRADED, "slow"))
    health.add_check("raises", lambda: 1 / 0)
    report = asyncio.run(health.check_async())
    by_name = {c.name: c for c in report.checks}
    assert (
        by_name["raises"].status is HealthStatus.UNHEALTHY
        and "ZeroDivisionError" in by_name["raises"].message
    )
    assert report.status is HealthStatus.UNHEALTHY
    assert report.to_dict()["checks"][0]["status"] == "degraded"


async def test_the_same_checks_feed_plugwork_health() -> None:
    host = ModuleHost()
    host.register(GreeterModule())
    health = HealthCheck(host=host, version="1.0.0", timeout=0.5)
    health.add_check("database", check_database, liveness=True, readiness=True)
    health.add_check("optional", lambda: False, readiness=False)
    app = host.attach(App("events-health"))
    async with TestClient(app, **OFFLINE) as client:
        body = (await client.http.get("/health")).json()
        assert body["checks"]["database"]["status"] == "GREEN"
        assert body["checks"]["optional"]["status"] == "RED"
        ready = await client.http.get("/health/ready")
        assert ready.status_code == 200, ready.json()
        assert "optional" not in ready.json()["checks"]
        live = await client.http.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "alive", "checks": {"database": {"status": "GREEN", "message": ""}}}
        state["db"] = False
        try:
            ready = await client.http.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "RED"
            live = await client.http.get("/health/live")  # database is a liveness check too
            assert live.status_code == 503 and live.json()["status"] == "not alive"
        finally:
            state["db"] = True


async def test_without_liveness_checks_health_live_is_plugworks_own() -> None:
    host = ModuleHost()
    HealthCheck(host=host)  # only the built-in readiness check
    async with TestClient(host.attach(App("plain-live")), **OFFLINE) as client:
        assert (await client.http.get("/health/live")).json() == {"status": "alive"}
