"""The compose scenario outside a container, on the real PostgreSQL: the image's commands run as
deploy/compose.yaml runs them, through the image's entrypoint and with the same environment, as separate
processes — the bootstrap, a hub, two Plugboard consumers, the HTTP app and two workers. A producer's
request goes through the hub to a consumer and back; a job enqueued over the app's token-guarded POST /jobs
is completed by a worker; the HEALTHCHECK and the worker probe pass; SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from deploy_helpers import BIN, ROOT, VENV_BIN

GREETER = ROOT / "examples" / "greeter"
RUN_GREETER = ["plugwork", "run", "app:app", "--config", "plugwork.yaml"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Scenario:
    """The environment compose gives every Plugwork container, and the processes started in it."""

    tmp: Path
    url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def bootstrap(self) -> Path:
        return self.tmp / "bootstrap"

    def env(self, **extra: str) -> dict[str, str]:
        password = self.tmp / "postgres_password"
        password.write_text("unused-by-a-trust-server\n")
        return {
            "PATH": f"{BIN}{os.pathsep}{VENV_BIN}{os.pathsep}/usr/bin:/bin",
            "HOME": str(self.tmp),
            "PGPASSWORD_FILE": str(password),  # read by the entrypoint, as from /run/secrets/
            "PLUGWORK_QUEUE_URL": self.url,
            "ENVIRONMENT": "production",
            "LOG_CONSOLE_JSON": "true",
            "SHUTDOWN_TIMEOUT_SECONDS": "30",
            **extra,
        }

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["plugwork-entrypoint", *args],
            cwd=GREETER,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, name: str, *args: str, **env: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            ["plugwork-entrypoint", *args], cwd=GREETER, env=self.env(**env), stdout=log, stderr=log
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")


@pytest.fixture
async def scenario(postgres_url: str, tmp_path: Path) -> AsyncIterator[Scenario]:
    found = Scenario(tmp_path, postgres_url)
    try:
        yield found
    finally:
        for proc in found.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it is true (a bound, not a speed claim)."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def answers(client: httpx.AsyncClient, url: str, want: Callable[[httpx.Response], bool]) -> bool:
    try:
        return want(await client.get(url))
    except httpx.TransportError:
        return False


async def test_the_vera_scenario_end_to_end(scenario: Scenario) -> None:
    # bootstrap (the one-shot service), then again: a restart keeps what exists
    store = {"PLUGWORK_HUB_STORE": scenario.url, "PLUGWORK_BOOTSTRAP_DIR": str(scenario.bootstrap)}
    first = scenario.run("plugwork-hub-init", **store)
    assert first.returncode == 0, first.stderr
    secrets = {
        name: (scenario.bootstrap / name).read_text().strip() for name in os.listdir(scenario.bootstrap)
    }
    assert set(secrets) == {
        "service.id",
        "consumer.token",
        "producer.token",
        "hub-admin.token",
        "jobs-api.token",
    }
    assert all(oct((scenario.bootstrap / name).stat().st_mode)[-3:] == "600" for name in secrets)
    for name, value in secrets.items():
        if name != "service.id":
            assert value not in first.stdout + first.stderr, f"{name} was printed"
    again = scenario.run("plugwork-hub-init", **store)
    assert again.returncode == 0 and "created" not in again.stdout
    assert (scenario.bootstrap / "service.id").read_text().strip() == secrets["service.id"]

    hub_port, app_port = free_port(), free_port()
    files = {name: str(scenario.bootstrap / name) for name in secrets}
    scenario.start(
        "hub",
        "plugwork",
        "hub",
        "--port",
        str(hub_port),
        PLUGWORK_HUB_STORE=scenario.url,
        PLUGWORK_HUB_ADMIN_TOKEN_FILE=files["hub-admin.token"],
    )
    for n in (1, 2):
        scenario.start(
            f"consumer{n}",
            *RUN_GREETER,
            HTTP_PORT=str(free_port()),
            PLUGWORK_WORKER="false",
            JOBS_API="off",
            WEBSOCKET_URL=f"ws://127.0.0.1:{hub_port}/websocket",
            PLUGWORK_PLUGBOARD_TOKEN_FILE=files["consumer.token"],
        )
        scenario.start(f"worker{n}", "plugwork", "worker", "app:app", "--config", "plugwork.yaml")
    scenario.start(
        "app",
        *RUN_GREETER,
        HTTP_PORT=str(app_port),
        PLUGWORK_WORKER="false",
        JOBS_API="token",
        PLUGWORK_JOBS_API_TOKEN_FILE=files["jobs-api.token"],
    )
    hub, app = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{app_port}"

    async with httpx.AsyncClient(timeout=10) as client:

        def two_consumers(r: httpx.Response) -> bool:
            return r.status_code == 200 and r.json()["checks"]["consumers"]["details"]["connected"] == 2

        await until(lambda: answers(client, f"{hub}/health/ready", two_consumers), "two consumers on the hub")
        await until(lambda: answers(client, f"{app}/health/ready", lambda r: r.status_code == 200), "the app")

        # a producer's request through the hub, answered by one of the consumers
        producer = {"Authorization": f"Bearer {secrets['producer.token']}"}
        body = {"service_id": secrets["service.id"], "action": "greet", "fields": {"name": "Vera"}}
        for _ in range(4):  # round-robined over both consumers
            answer = await client.post(f"{hub}/", json=body, headers=producer)
            assert answer.status_code == 200, answer.text
            assert answer.json()["fields"] == {"message": "Hello, Vera!"}
        assert (await client.post(f"{hub}/", json=body)).status_code == 401

        # the hub's admin API is on, with the bootstrap's token only
        admin = {"Authorization": f"Bearer {secrets['hub-admin.token']}"}
        services = await client.get(f"{hub}/admin/services", headers=admin)
        assert services.status_code == 200 and "greeter" in services.text
        assert (await client.get(f"{hub}/admin/services")).status_code == 401

        # a job over the app's guarded jobs API, completed by a worker
        jobs = {"Authorization": f"Bearer {secrets['jobs-api.token']}"}
        assert (await client.post(f"{app}/jobs", json={"action": "greet", "name": "x"})).status_code == 401
        queued = await client.post(f"{app}/jobs", json={"action": "greet", "name": "Ada"}, headers=jobs)
        assert queued.status_code == 202, queued.text
        job_url = f"{app}/jobs/{queued.json()['job_id']}"

        def completed(r: httpx.Response) -> bool:
            return r.status_code == 200 and r.json()["status"] == "completed"

        await until(lambda: answers_with(client, job_url, jobs, completed), "the job to complete")
        job: dict[str, Any] = (await client.get(job_url, headers=jobs)).json()
        assert job["result"] == {"message": "Hello, Ada!"}

    # the image's HEALTHCHECK, in each of its modes, and the worker's probe
    assert scenario.run("plugwork-healthcheck", HTTP_PORT=str(app_port)).returncode == 0
    hub_check = scenario.run("plugwork-healthcheck", PLUGWORK_HEALTHCHECK_URL=f"{hub}/health/live")
    assert hub_check.returncode == 0
    worker_check = scenario.run("plugwork-healthcheck", PLUGWORK_HEALTHCHECK="worker")
    assert worker_check.returncode == 0 and "alive" in worker_check.stdout, worker_check.stderr

    # SIGTERM (what `docker stop` and Kubernetes send) ends every process cleanly, well within the grace
    for proc in scenario.procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in scenario.procs.items():
        assert proc.wait(timeout=40) == 0, scenario.log(name)
    for name in scenario.procs:
        for value in secrets.values():
            assert value not in scenario.log(name) or value == secrets["service.id"], (
                f"a secret in {name}'s log"
            )
    after = scenario.run("plugwork", "jobs", "worker-health")
    assert after.returncode == 1 and "no worker heartbeat" in after.stderr  # the workers retired their rows


async def answers_with(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], want: Callable[[httpx.Response], bool]
) -> bool:
    return want(await client.get(url, headers=headers))
