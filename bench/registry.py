"""Registry benchmark: ``registry.remote("billing").call(...)`` beside a direct HTTP call to one instance.

One instance of the registry example (``plugwork run billing:app``, default settings, a SQLite registry)
serves ``POST /actions/quote``. In this process a Plugwork app with the registry plugin calls it two ways,
with the same concurrency and a keep-alive ``httpx.AsyncClient`` pool each: directly (``client.post(url,
...)``, the caller's correlation id as a header) and through the registry (instance picked from the
cached view, context headers from the carriers, error taxonomy). Two measurements:

- paired: every worker alternates one direct and one remote call, so both see the same machine load
  (the robust figure on a shared machine); the ratio of median and mean latencies;
- rounds: alternating rounds of one kind of call each; calls/s and latencies of the median round.

Goal: a remote call costs at most 1.3x a direct one.

    python bench/registry.py [--calls 3000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson

# bench/ goes last on the path: bench/queue.py must not shadow the standard library's queue (threads use it).
HERE = Path(__file__).resolve().parent
for entry in [p for p in sys.path if Path(p or ".").resolve() == HERE]:
    sys.path.remove(entry)
sys.path.append(str(HERE))
from common import ROOT, free_port, percentile, process, table, wait_for_port  # noqa: E402

from plugwork import App  # noqa: E402
from plugwork.config import Settings  # noqa: E402
from plugwork.context import Context, current_context  # noqa: E402
from plugwork.registry import Registry, RegistryPlugin  # noqa: E402

PAYLOAD = {"amount": 10.0, "currency": "EUR"}


async def measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        current_context.set(Context())  # each worker calls from inside an invocation, like an action would
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": calls / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
    }


async def paired(
    direct: Callable[[], Awaitable[object]],
    remote: Callable[[], Awaitable[object]],
    pairs: int,
    concurrency: int,
) -> dict[str, list[float]]:
    """Latencies (ms) of ``pairs`` direct and remote calls, each worker alternating the two."""
    found: dict[str, list[float]] = {"direct HTTP": [], "remote().call": []}
    remaining = pairs

    async def worker() -> None:
        nonlocal remaining
        current_context.set(Context())
        while remaining > 0:
            remaining -= 1
            for name, call in (("direct HTTP", direct), ("remote().call", remote)):
                began = time.perf_counter()
                await call()
                found[name].append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return found


async def run(calls: int, concurrency: int, rounds: int, registry_url: str, port: int) -> None:
    caller = App(settings=Settings(name="bench-caller", queue_url="none"))
    caller.plugin(RegistryPlugin).configure(url=registry_url, http=False)
    async with caller, httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        registry = caller.get(Registry)
        deadline = time.monotonic() + 30
        while not registry.candidates("billing"):
            if time.monotonic() > deadline:
                raise RuntimeError("the billing instance never appeared in the registry")
            await asyncio.sleep(0.1)  # the next heartbeat refreshes the view
        url = f"http://127.0.0.1:{port}/actions/quote"
        body = orjson.dumps(PAYLOAD)
        billing = registry.remote("billing")

        async def direct() -> object:
            ctx = current_context.get()
            headers = {"content-type": "application/json"}
            if ctx is not None:
                headers["x-correlation-id"] = ctx.correlation_id
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()
            return orjson.loads(response.content)

        async def remote() -> object:
            return await billing.call("quote", PAYLOAD)

        await measure(direct, 300, concurrency)  # warm both pools
        await measure(remote, 300, concurrency)
        pairs = await paired(direct, remote, calls * rounds // 2, concurrency)
        results: dict[str, list[dict[str, float]]] = {"direct HTTP": [], "remote().call": []}
        for _ in range(rounds):
            results["direct HTTP"].append(await measure(direct, calls, concurrency))
            results["remote().call"].append(await measure(remote, calls, concurrency))

    rows = []
    base_p50 = statistics.median(pairs["direct HTTP"])
    base_mean = statistics.fmean(pairs["direct HTTP"])
    for name, latencies in pairs.items():
        p50, mean = statistics.median(latencies), statistics.fmean(latencies)
        rows.append([name, f"{p50:.2f}", f"{mean:.2f}", f"{p50 / base_p50:.2f}x", f"{mean / base_mean:.2f}x"])
    print(
        f"\npaired: {len(pairs['direct HTTP'])} direct + remote calls alternating, concurrency {concurrency}"
    )
    print(table(["client", "p50 ms", "mean ms", "p50 vs direct", "mean vs direct"], rows))

    rows = []
    base = statistics.median(r["rps"] for r in results["direct HTTP"])
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        rows.append([name, f"{rps:,.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{base / rps:.2f}x"])
    print(
        f"\n{calls} calls x {rounds} rounds, concurrency {concurrency}, one billing instance (median round)"
    )
    print(table(["client", "calls/s", "p50 ms", "p99 ms", "cost vs direct"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        registry_url = f"sqlite:///{tmp}/registry.db"
        env = {
            "PLUGWORK_REGISTRY_URL": registry_url,
            "PLUGWORK_QUEUE_URL": "none",
            "PLUGWORK_LOG_LEVEL": "WARNING",
        }
        plugwork = str(Path(sys.executable).parent / "plugwork")
        cmd = [plugwork, "run", "billing:app", "--port", str(port)]
        with process(cmd, env, cwd=ROOT / "examples" / "registry"):
            wait_for_port(port)
            asyncio.run(run(args.calls, args.concurrency, args.rounds, registry_url, port))


if __name__ == "__main__":
    main()
