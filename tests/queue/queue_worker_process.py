"""A worker process for the SIGKILL and busy-loop tests: `python queue_worker_process.py URL ID MODE`.

MODE ``fast``: short leases; ``defaults``: the Worker's default lease, heartbeat and reclaim settings;
``blocking``: default heartbeat, a 1 s lease, and a ``block`` action that holds the event loop (time.sleep).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from pydantic import BaseModel
from queue_helpers import make_action, make_dispatcher

from plugwork.queue import store_from_url
from plugwork.queue.worker import Worker


class Item(BaseModel):
    n: int


class Hold(BaseModel):
    seconds: float


async def work(data: Item) -> int:
    await asyncio.sleep(0.01)
    return data.n


async def block(data: Hold) -> str:
    time.sleep(data.seconds)  # the event loop stops: no lease renewal, no reclaim, nothing
    return "held"


MODES: dict[str, dict[str, Any]] = {
    "fast": {"lease_seconds": 1.0, "renew_interval": 0.3, "poll_interval": 0.05},
    "defaults": {},
    "blocking": {"lease_seconds": 1.0, "poll_interval": 0.05},
}


async def main(url: str, worker_id: str, mode: str) -> None:
    store = store_from_url(url)
    await store.open()
    worker = Worker(
        store,
        make_dispatcher(make_action("work", work, Item), make_action("block", block, Hold)),
        worker_id=worker_id,
        concurrency=10,
        batch_size=50,
        **MODES[mode],
    )
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "fast"))
