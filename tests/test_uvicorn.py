"""End to end through a real uvicorn server: ``plugwork run`` as a subprocess on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from core_helpers import EXAMPLE_DIR

PLUGWORK = Path(sys.executable).parent / "plugwork"
START_TIMEOUT = 30.0  # a bound on waiting, not a performance threshold


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(proc: subprocess.Popen[bytes], base: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log_file.read_text()}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"server not ready after {START_TIMEOUT}s:\n{log_file.read_text()}")


def log_lines(log_file: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log_file.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.parametrize("queue", ["none", "sqlite"])
def test_plugwork_run_serves_and_stops_gracefully_on_sigterm(tmp_path: Path, queue: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    # "sqlite" is the embedded default of the example's config, in a file of this test's own.
    env["PLUGWORK_QUEUE_URL"] = "none" if queue == "none" else f"sqlite:///{tmp_path}/jobs.db"
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as log_out:
        proc = subprocess.Popen(
            [str(PLUGWORK), "run", "app:app", "--config", "plugwork.yaml", "--port", str(port), "--log-json"],
            cwd=EXAMPLE_DIR,
            env=env,
            stdout=log_out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(proc, base, log_file)
            greeted = httpx.post(
                f"{base}/actions/greet", json={"name": "World"}, headers={"X-Correlation-ID": "e2e-1"}
            )
            assert greeted.status_code == 200
            assert greeted.json() == {"message": "Hello, World!"}
            assert greeted.headers["x-correlation-id"] == "e2e-1"

            invalid = httpx.post(
                f"{base}/actions/greet", content=b'{"name": ', headers={"content-type": "application/json"}
            )
            assert invalid.status_code == 400

            health = httpx.get(f"{base}/health")
            assert health.status_code == 200
            assert health.json()["status"] == "GREEN"
            assert health.json()["checks"]["greeter"]["status"] == "GREEN"

            metrics = httpx.get(f"{base}/metrics").text
            assert 'plugwork_invocations_total{action="greet",outcome="OK",transport="http"} 1.0' in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                returncode = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    output = log_file.read_text()
    assert returncode == 0, output
    lines = log_lines(log_file)
    events = [line["event"] for line in lines]
    assert "app started" in events and "app stopped" in events, output
    assert events.index("app stopped") > events.index("app started")
    greeting = next(line for line in lines if line["event"] == "greeting")
    assert greeting["correlation_id"] == "e2e-1" and greeting["action"] == "greet"
    assert "Traceback" not in output


def test_plugwork_run_exits_non_zero_when_the_app_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(
        "from plugwork import App, Service\n\n\n"
        "class Database(Service):\n"
        "    async def start(self) -> None:\n"
        "        raise ConnectionRefusedError('db.internal:5432 refused')\n\n\n"
        "app = App('failing', services=[Database])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    env["PLUGWORK_QUEUE_URL"] = "none"
    result = subprocess.run(
        [str(PLUGWORK), "run", "failing:app", "--port", str(free_port()), "--log-json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    failed = [json.loads(line) for line in result.stderr.splitlines() if '"app start failed"' in line]
    assert failed and "db.internal:5432 refused" in failed[0]["error"], result.stderr


WRAPPED_APP = """
from pydantic import BaseModel
from plugwork import App, action, get_logger

log = get_logger("wrapped")


class In(BaseModel):
    name: str


@action
async def hello(data: In) -> dict:
    log.info("saying hello", name=data.name)
    return {"hello": data.name}


app = App("wrapped", actions=[hello])


class HeaderMiddleware:
    # A user's own ASGI middleware around the Plugwork app (Starlette's convention: it keeps `.app`).
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-wrapped", b"yes")]
            await send(message)

        await self.app(scope, receive, tagged if scope["type"] == "http" else send)


asgi = HeaderMiddleware(app.asgi)
"""


@pytest.mark.parametrize("server", ["plugwork", "uvicorn"])
def test_a_wrapped_app_is_served_with_its_log_context(tmp_path: Path, server: str) -> None:
    (tmp_path / "wrapped.py").write_text(WRAPPED_APP)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    env.update(PLUGWORK_QUEUE_URL="none", PLUGWORK_LOG_JSON="true", PYTHONPATH=str(tmp_path))
    command = {
        "plugwork": [str(PLUGWORK), "run", "wrapped:asgi", "--port", str(port)],
        "uvicorn": [sys.executable, "-m", "uvicorn", "wrapped:asgi", "--port", str(port), "--no-access-log"],
    }[server]
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as log_out:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log_out, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(proc, base, log_file)
            answer = httpx.post(
                f"{base}/actions/hello", json={"name": "Ada"}, headers={"X-Correlation-ID": "w-1"}
            )
            assert answer.json() == {"hello": "Ada"}
            assert answer.headers["x-wrapped"] == "yes"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    said = [line for line in log_lines(log_file) if line.get("event") == "saying hello"]
    assert said and said[0]["correlation_id"] == "w-1" and said[0]["action"] == "hello"
