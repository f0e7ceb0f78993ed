"""The compose scenario outside a container, on the real PostgreSQL: the image's commands run as
deploy/compose.yaml runs them, through the image's entrypoint and with the same environment, as separate
processes — the bootstrap, a hub, two Plugboard consumers, the HTTP app and two workers. A producer's
request goes through the hub to a consumer and back; a job enqueued over the app's token-guarded POST /jobs
is completed by a worker; the HEALTHCHECK and the worker probe pass; SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from deploy_helpers import BIN, DEPLOY, ROOT, VENV_BIN

GREETER = ROOT / "examples" / "greeter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What the Dockerfile's ENV gives every container (HTTP_HOST stays local here: processes share this host).
IMAGE_ENV = {"PLUGWORK_LOG_JSON": "true", "PYTHONUNBUFFERED": "1"}
COMPOSE_SERVICES: dict[str, dict[str, Any]] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())[
    "services"
]


@dataclass
class Scenario:
    """The compose file's services as processes on this host: each one's command and environment are read
    from deploy/compose.yaml, with its container addresses and paths mapped to this host's."""

    tmp: Path
    url: str
    hub_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def bootstrap(self) -> Path:
        return self.tmp / "bootstrap"

    def local(self, value: str) -> str:
        """A compose value with its container addresses and paths replaced by this host's."""
        password = self.tmp / "postgres_password"  # the compose secret (a trust server ignores it)
        password.write_text("unused-by-a-trust-server\n")
        for container, here in (
            ("postgresql://plugwork@postgres:5432/plugwork", self.url),
            ("/run/secrets/postgres_password", str(password)),
            ("/var/lib/plugwork/bootstrap", str(self.bootstrap)),
            ("ws://hub:4000/", f"ws://127.0.0.1:{self.hub_port}/"),
        ):
            value = value.replace(container, here)
        assert not re.search(r"@postgres:|//hub:|/run/secrets/|/var/lib/plugwork", value), value
        return value

    def env(self, service: str, **extra: str) -> dict[str, str]:
        compose = COMPOSE_SERVICES[service].get("environment") or {}
        return {
            "PATH": f"{BIN}{os.pathsep}{VENV_BIN}{os.pathsep}/usr/bin:/bin",
            "HOME": str(self.tmp),
            **IMAGE_ENV,
            **{key: self.local(str(value)) for key, value in compose.items()},
            **extra,
        }

    def command(self, service: str) -> list[str]:
        """The service's compose command, the hub's port mapped to this host's."""
        command = [str(part) for part in COMPOSE_SERVICES[service]["command"]]
        return [str(self.hub_port) if part == "4000" else part for part in command]

    def run(self, service: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (default: the service's command) in the service's environment, through the
        image's entrypoint."""
        return subprocess.run(
            ["plugwork-entrypoint", *(args or self.command(service))],
            cwd=GREETER,
            env=self.env(service, **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, name: str, service: str, **env: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            ["plugwork-entrypoint", *self.command(service)],
            cwd=GREETER,
            env=self.env(service, **env),
            stdout=log,
            stderr=log,
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
    first = scenario.run("bootstrap", PLUGWORK_BOOTSTRAP_DIR=str(scenario.bootstrap))
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
    again = scenario.run("bootstrap", PLUGWORK_BOOTSTRAP_DIR=str(scenario.bootstrap))
    assert again.returncode == 0 and "created" not in again.stdout
    assert (scenario.bootstrap / "service.id").read_text().strip() == secrets["service.id"]

    # compose's services; several processes share this host, so each HTTP server gets a port of its own
    hub_port, app_port = scenario.hub_port, free_port()
    scenario.start("hub", "hub")
    for n in (1, 2):  # replicas: 2
        scenario.start(f"consumer{n}", "consumer", HTTP_PORT=str(free_port()))
        scenario.start(f"worker{n}", "worker")
    scenario.start("app", "app", HTTP_PORT=str(app_port))
    hub, app = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{app_port}"

    async with httpx.AsyncClient(timeout=10) as client:

        def two_consumers(r: httpx.Response) -> bool:
            return r.status_code == 200 and r.json()["checks"]["consumers"]["details"]["connected"] == 2

        await until(lambda: answers(client, f"{hub}/health", two_consumers), "two consumers on the hub")
        await until(lambda: answers(client, f"{app}/health/ready", lambda r: r.status_code == 200), "the app")
        assert (await client.get(f"{hub}/health/ready")).status_code == 200

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
    assert scenario.run("app", "plugwork-healthcheck", HTTP_PORT=str(app_port)).returncode == 0
    local_hub = f"http://127.0.0.1:{hub_port}/health/live"  # the compose value, on this host's port
    assert COMPOSE_SERVICES["hub"]["environment"]["PLUGWORK_HEALTHCHECK_URL"].endswith(":4000/health/live")
    assert scenario.run("hub", "plugwork-healthcheck", PLUGWORK_HEALTHCHECK_URL=local_hub).returncode == 0
    worker_check = scenario.run("worker", "plugwork-healthcheck")  # PLUGWORK_HEALTHCHECK=worker in compose
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
    after = scenario.run("worker", "plugwork", "jobs", "worker-health")
    assert after.returncode == 1 and "no worker heartbeat" in after.stderr  # the workers retired their rows


async def answers_with(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], want: Callable[[httpx.Response], bool]
) -> bool:
    return want(await client.get(url, headers=headers))
