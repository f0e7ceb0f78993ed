"""Events benchmark: ``host.handle_async(event)`` beside ``app.call()`` of an equivalent action, and beside
the PyModules seed's thread-pool design, all in one process, on one event loop, same work.

Peers (each runs the same greeting: a Pydantic input, an async handler building a Pydantic output):

- ``app.call``            the action through a started App's full pipeline (metrics, logging, timeouts);
- ``handle_async``        a standalone ModuleHost, default config (observer, correlation id, metrics);
- ``handle_async (app)``  the same host attached to the App: events through the App's dispatcher (and
                          once more with the input model built once: what the host itself costs);
- ``seed thread pool``    the seed's design: each event handed to a ThreadPoolExecutor worker that runs
                          the modules (sync handler) under a lock-protected metrics update;
- ``host.handle (sync)``  Plugwork's sync surface from a plain thread (the host's loop thread), beside
- ``seed handle (sync)``  the seed's sync handle (pool submit + result) from the same plain thread.

Prints µs per call (best of ``--repeat`` rounds of ``--n`` sequential calls) and the ratios: CPU time of
the process for the async peers (one thread; steadier on a shared machine), wall-clock time for the sync
ones (their cost is the hop between threads).

    python bench/events.py [--n 20000] [--repeat 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's queue (used by the thread pools): import it first.
_BENCH = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p != _BENCH]
import argparse  # noqa: E402
import asyncio  # noqa: E402
import concurrent.futures  # noqa: E402
import queue  # noqa: E402, F401
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from pydantic import BaseModel  # noqa: E402

sys.path.insert(0, _BENCH)
from common import table  # noqa: E402

from plugwork import App, action  # noqa: E402
from plugwork.events import Event, Module, ModuleHost  # noqa: E402


class GreetIn(BaseModel):
    name: str = "World"


class GreetOut(BaseModel):
    message: str


class Greet(Event[GreetIn, GreetOut]):
    name = "greet_event"


class AsyncGreeter(Module):
    def can_handle(self, event: Event[Any, Any]) -> bool:
        return isinstance(event, Greet)

    async def handle(self, event: Event[Any, Any]) -> None:
        event.output = GreetOut(message=f"Hello, {event.input.name}!")
        event.handled = True


class SyncGreeter(Module):
    def can_handle(self, event: Event[Any, Any]) -> bool:
        return isinstance(event, Greet)

    def handle(self, event: Event[Any, Any]) -> None:
        event.output = GreetOut(message=f"Hello, {event.input.name}!")
        event.handled = True


@action
async def greet(inp: GreetIn) -> GreetOut:
    return GreetOut(message=f"Hello, {inp.name}!")


class SeedHost:
    """The seed's thread-pool design, reduced to its hot path: a pool, a metrics lock, first-wins loop."""

    def __init__(self, max_workers: int = 4) -> None:
        self.modules: list[Module] = []
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers)
        self.lock = threading.Lock()
        self.metrics = {"events_dispatched": 0, "events_handled": 0}

    def _dispatch(self, event: Event[Any, Any]) -> None:
        with self.lock:
            self.metrics["events_dispatched"] += 1
        for mod in self.modules:
            if mod.can_handle(event):
                mod.handle(event)
                if event.handled:
                    with self.lock:
                        self.metrics["events_handled"] += 1
                    return

    def handle(self, event: Event[Any, Any]) -> None:
        self.pool.submit(self._dispatch, event).result()

    async def handle_async(self, event: Event[Any, Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._dispatch, event)


async def timed_async(n: int, call: Callable[[int], Awaitable[Any]]) -> float:
    # CPU time of this process: the async peers run on this one thread, and on a shared machine the time
    # other processes take the CPU away would otherwise swamp differences of a microsecond.
    started = time.process_time()
    for i in range(n):
        await call(i)
    return (time.process_time() - started) / n * 1e6


def timed_sync(n: int, call: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for i in range(n):
        call(i)
    return (time.perf_counter() - started) / n * 1e6


async def main(n: int, repeat: int) -> None:
    host = ModuleHost()
    host.register(AsyncGreeter())
    attached = ModuleHost()
    attached.register(AsyncGreeter())
    attached.register_event(Greet)
    app = App("bench-events", actions=[greet]).configure(queue_url="none", plugboard_url="")
    attached.attach(app)
    seed = SeedHost()
    seed.modules.append(SyncGreeter())
    sync_host = ModuleHost()
    sync_host.register(AsyncGreeter())

    async def call(i: int) -> Any:
        return await app.call("greet", name="World")

    async def handle(i: int) -> Any:
        event = Greet(GreetIn(name="World"))
        await host.handle_async(event)
        return event.output

    async def handle_app(i: int) -> Any:
        event = Greet(GreetIn(name="World"))
        await attached.handle_async(event)
        return event.output

    prebuilt = GreetIn(name="World")

    async def handle_app_prebuilt(i: int) -> Any:
        # A new event around an input built once: the host's own cost, without the caller building a
        # Pydantic model (about 1.2 µs) that app.call replaces with a dict.
        event = Greet(prebuilt)
        await attached.handle_async(event)
        return event.output

    events: list[Greet] = []

    async def handle_app_built(i: int) -> Any:
        # The call itself, on an event the caller built beforehand (the list is filled before each round).
        event = events[i]
        await attached.handle_async(event)
        return event.output

    async def seed_async(i: int) -> Any:
        event = Greet(GreetIn(name="World"))
        await seed.handle_async(event)
        return event.output

    def handle_sync(i: int) -> Any:
        event = Greet(GreetIn(name="World"))
        sync_host.handle(event)
        return event.output

    def seed_sync(i: int) -> Any:
        event = Greet(GreetIn(name="World"))
        seed.handle(event)
        return event.output

    async with app:
        peers: dict[str, list[float]] = {}
        for _ in range(repeat):  # interleaved rounds, so drift hits every peer alike
            for label, fn in (
                ("app.call", call),
                ("handle_async", handle),
                ("handle_async (app)", handle_app),
                ("handle_async (app), input built once", handle_app_prebuilt),
                ("handle_async (app), event built beforehand", handle_app_built),
                ("seed thread pool (async)", seed_async),
            ):
                events[:] = [Greet(GreetIn(name="World")) for _ in range(n)] if fn is handle_app_built else []
                await fn(0)
                if events:
                    events[0] = Greet(GreetIn(name="World"))
                peers.setdefault(label, []).append(await timed_async(n, fn))
            for label, sfn in (("host.handle (sync)", handle_sync), ("seed handle (sync)", seed_sync)):
                sfn(0)
                result = await asyncio.to_thread(timed_sync, n // 4, sfn)
                peers.setdefault(label, []).append(result)
    best = {label: min(values) for label, values in peers.items()}
    base = best["app.call"]
    rows = [(label, f"{us:.1f}", f"{us / base:.2f}x") for label, us in best.items()]
    print(f"events benchmark: best of {repeat} rounds of {n} sequential calls (sync: {n // 4})")
    print(table(["peer", "µs/call", "vs app.call"], rows))
    print(
        f"\nhandle_async / app.call (goal <= 1.20): standalone host {best['handle_async'] / base:.2f}, "
        f"attached to the app {best['handle_async (app), event built beforehand'] / base:.2f} "
        f"({best['handle_async (app)'] / base:.2f} with the event built inside the timed loop); "
        f"seed thread pool / handle_async = {best['seed thread pool (async)'] / best['handle_async']:.2f}; "
        f"seed handle / host.handle (sync) = {best['seed handle (sync)'] / best['host.handle (sync)']:.2f}"
    )
    host.close()
    sync_host.close()
    seed.pool.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.repeat))
