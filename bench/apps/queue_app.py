"""The app the queue benchmark runs with ``plugwork worker bench.apps.queue_app:app`` (default settings).

``noop`` is the job being measured; ``stamp`` returns the wall-clock time its handler started, which the
benchmark subtracts from the enqueue time it put in the payload (enqueue-to-start latency).
"""

import time

from pydantic import BaseModel

from plugwork import App, action


class Noop(BaseModel):
    t: float = 0.0


@action("noop")
async def noop(data: Noop) -> None:
    return None


@action("stamp")
async def stamp(data: Noop) -> float:
    return time.time()


app = App("bench-queue", actions=[noop, stamp])
