"""A worker process for the SIGKILL test: ``python queue_worker_process.py URL WORKER_ID``."""

from __future__ import annotations

import asyncio
import sys

from pydantic import BaseModel
from queue_helpers import make_action, make_dispatcher

from plugwork.queue import store_from_url
from plugwork.queue.worker import Worker


class Item(BaseModel):
    n: int


async def work(data: Item) -> int:
    await asyncio.sleep(0.01)
    return data.n


async def main(url: str, worker_id: str) -> None:
    store = store_from_url(url)
    await store.open()
    worker = Worker(
        store,
        make_dispatcher(make_action("work", work, Item)),
        worker_id=worker_id,
        concurrency=10,
        batch_size=50,
        lease_seconds=1.0,
        renew_interval=0.3,
        poll_interval=0.05,
    )
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
