"""Three example instances in separate processes on PostgreSQL: listed, balanced, killed, forgotten."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from registry_helpers import free_port

from plugwork import App
from plugwork.config import Settings
from plugwork.registry import Registry, RegistryPlugin, store_from_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry"
PLUGWORK = Path(sys.executable).parent / "plugwork"
HEARTBEAT, TTL = 0.5, 2.0
GRACE = 1.5  # process scheduling on a shared 2-core machine: a bound on waiting, not a speed goal
START_TIMEOUT = 30.0


class Instances:
    """``plugwork run billing:app`` processes of the registry example."""

    def __init__(self, registry_url: str, logs: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGWORK_", "MONGODB_"))}
        self.env.update(
            PLUGWORK_REGISTRY_URL=registry_url,
            PLUGWORK_REGISTRY_HEARTBEAT_SECONDS=str(HEARTBEAT),
            PLUGWORK_REGISTRY_TTL_SECONDS=str(TTL),
            PLUGWORK_QUEUE_URL="none",
        )
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        port = free_port()
        log = (self.logs / f"billing-{port}.log").open("wb")
        proc = subprocess.Popen(
            [str(PLUGWORK), "run", "billing:app", "--port", str(port)],
            cwd=EXAMPLE,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in self.logs.glob("*.log"))


@pytest.fixture
def instances(postgres_url: str, tmp_path: Path) -> Iterator[Instances]:
    fleet = Instances(postgres_url, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
async def caller(postgres_url: str) -> AsyncIterator[App]:
    app = App(settings=Settings(name="shop", queue_url="none"))
    app.plugin(RegistryPlugin).configure(
        url=postgres_url, http=False, heartbeat_seconds=HEARTBEAT, ttl_seconds=TTL
    )
    async with app:
        yield app


async def wait_for(
    predicate: object, what: str, instances: Instances, timeout: float = START_TIMEOUT
) -> float:
    """Poll ``predicate`` (an async callable) until true; return the seconds it took."""
    began = time.monotonic()
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            pytest.fail(f"{what} not reached within {timeout}s:\n{instances.output()}")
        for proc in instances.procs:
            if proc.poll() not in (None, -signal.SIGKILL, 0):
                pytest.fail(f"an instance exited with {proc.returncode}:\n{instances.output()}")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_three_instances_balanced_and_one_killed(
    postgres_url: str, instances: Instances, caller: App
) -> None:
    store = store_from_url(postgres_url)
    await store.open()
    try:
        procs = [instances.start() for _ in range(3)]

        async def three_listed() -> bool:
            return len(await store.instances("billing")) == 3

        await wait_for(three_listed, "3 billing instances registered", instances)
        registry = caller.get(Registry)

        async def three_in_view() -> bool:
            return len(registry.candidates("billing")) == 3

        await wait_for(three_in_view, "3 billing instances in the caller's view", instances)
        listed = await store.instances("billing")
        assert {i.transports.http for i in listed} == {
            i.transports.http for i in registry.instances("billing")
        }
        [record] = await store.schemas("billing")
        assert [a["name"] for a in record.actions] == ["charge", "quote"]

        # Round robin over three live instances: an even spread.
        billing = registry.remote("billing")
        before = Counter([(await billing.call("quote", {"amount": 10}))["instance"] for _ in range(30)])
        assert sorted(before.values()) == [10, 10, 10]

        # Kill one while calls keep going: none is lost (refused connections and lost replies fail over).
        by_port = {i.port: i.instance_id for i in listed}
        victim = procs[1]
        victim_id = by_port[int(victim.args[-1])]
        served: list[str] = []
        killed_at = 0.0
        loop_began = time.monotonic()
        while time.monotonic() - loop_began < 2.0:
            if not killed_at and len(served) >= 20:
                victim.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                killed_after = len(served)
            out = await billing.call("quote", {"amount": 10}, idempotent=True)
            served.append(out["instance"])
        victim.wait(timeout=10)
        assert killed_at, "the loop ended before the kill"
        survivors = Counter(served[killed_after + 1 :])
        assert victim_id not in survivors
        assert len(survivors) == 2 and max(survivors.values()) - min(survivors.values()) <= 2

        # The killed instance disappears from the store within TTL + one heartbeat, with no clean-up.
        async def victim_gone() -> bool:
            return victim_id not in {i.instance_id for i in await store.instances("billing")}

        await wait_for(victim_gone, "the killed instance expired", instances, timeout=TTL + HEARTBEAT + GRACE)
        assert time.monotonic() - killed_at <= TTL + HEARTBEAT + GRACE

        # Graceful stops deregister at once.
        instances.stop_all()
        assert [p.returncode for p in procs if p is not victim] == [0, 0]
        assert await store.instances("billing") == []
    finally:
        await store.close()
