"""``JobStore.workers()`` and ``plugwork jobs worker-health``, the exec probe of worker processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from queue_helpers import beat, eventually

from plugwork.cli import main
from plugwork.queue import JobStore, store_from_url

ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def probe(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["jobs", "worker-health", "--queue-url", url, *args])
    return result.exit_code, result.output


async def test_workers_lists_each_heartbeat_row_with_its_age(store: JobStore) -> None:
    assert await store.workers() == []
    await beat(store, "b:1:aa", 5.0)
    await beat(store, "a:2:bb", 0.05)
    await asyncio.sleep(0.2)
    rows = await store.workers()
    assert [row.id for row in rows] == ["a:2:bb", "b:1:aa"]
    assert all(row.age >= 0.15 for row in rows)
    assert [row.alive for row in rows] == [False, True]
    assert rows[1].dead_after == 5.0


async def test_the_probe_judges_the_workers_of_its_own_host(store_url: str) -> None:
    if store_url.startswith("memory:"):
        code, out = probe(store_url)
        assert code == 1 and "no shared store" in out
        return
    store = store_from_url(store_url)
    await store.open()
    try:
        code, out = await asyncio.to_thread(probe, store_url)
        assert code == 1 and f"no worker heartbeat from host {HOST}" in out
        await beat(store, "elsewhere:1:aa", 5.0)  # another host's worker says nothing about this one
        code, out = await asyncio.to_thread(probe, store_url)
        assert code == 1 and "no worker heartbeat" in out
        await beat(store, f"{HOST}:1:aa", 0.05)
        await asyncio.sleep(0.2)
        code, out = await asyncio.to_thread(probe, store_url)
        assert code == 1 and "silent for" in out
        await beat(store, f"{HOST}:2:bb", 5.0)
        code, out = await asyncio.to_thread(probe, store_url)
        assert code == 0 and f"worker {HOST}:2:bb alive" in out
        code, out = await asyncio.to_thread(probe, store_url, "--host", "elsewhere")
        assert code == 0 and "worker elsewhere:1:aa alive" in out
    finally:
        await store.close()


def test_an_unreachable_store_fails_unless_told_otherwise() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    code, out = probe(url, "--timeout", "3")
    assert code == 1 and "store unreachable" in out
    code, out = probe(url, "--timeout", "3", "--unreachable-ok")
    assert code == 0 and "not judging the worker" in out


async def test_a_real_worker_process_passes_the_probe_and_fails_it_once_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "plugwork"), "worker", "app:app", "--config", "plugwork.yaml"],
        cwd=ROOT / "examples" / "greeter",
        env={"PATH": "/usr/bin:/bin", "PLUGWORK_QUEUE_URL": url},
    )
    try:

        async def passes() -> bool:
            await asyncio.sleep(0.1)
            return (await asyncio.to_thread(probe, url))[0] == 0

        await eventually(passes, timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    code, out = await asyncio.to_thread(probe, url)  # a graceful stop deletes the worker's row
    assert code == 1 and "no worker heartbeat" in out
