# ruff: noqa: E402  (sys.path is fixed before the stdlib imports below, see there)
"""Job queue benchmark: Plugwork vs procrastinate on the same PostgreSQL database, plus Plugwork on SQLite.

One invocation runs, each system in its own schema of the same database:

* throughput: N no-op jobs enqueued in bulk (enqueue rate), then drained by one worker process
  (processing rate, from worker start until every job's completion is committed);
* latency: jobs enqueued one at a time at about 100/s while one idle worker process waits; the
  enqueue-to-start latency is the time from just before the enqueue call to the start of the handler.

    python bench/queue.py                  # 20,000 jobs, 300 latency samples
    python bench/queue.py --quick          # 5,000 jobs, 100 samples
    python bench/queue.py --jobs 50000 --skip-procrastinate
    python bench/queue.py --profile        # cProfile of the Plugwork worker, top functions printed

PostgreSQL URL: --pg-url, else $PLUGWORK_BENCH_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test.
Commits are durable (synchronous_commit as the server has it, normally on): the rate it prints is shown.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the stdlib's
# `queue` (which asyncio and psycopg_pool import): drop the folder before anything imports `queue`.
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _BENCH_DIR]

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_PG = os.environ.get("PLUGWORK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HERE = Path(__file__).resolve()
WARMUP = 5
"""Latency runs send this many jobs first, uncounted: they pay for the first prepared statements."""


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------------------------- Plugwork


def plugwork_actions() -> dict[str, Any]:
    from pydantic import BaseModel

    from plugwork.actions import Action

    class Noop(BaseModel):
        t: float = 0.0

    async def noop(data: Noop) -> None:
        return None

    return {"noop": Action(name="noop", handler=noop, input_model=Noop, input_param="data")}


def plugwork_dispatcher(actions: dict[str, Any], on_start: Any) -> Any:
    from plugwork.actions import bind
    from plugwork.dispatch import Dispatcher

    spec = actions["noop"]

    async def handler(data: Any) -> None:
        on_start(data.t)

    from dataclasses import replace

    spec = replace(spec, handler=handler)

    def resolve(tp: Any) -> Any:
        raise LookupError(tp)

    return Dispatcher.build({"noop": spec}, {"noop": bind(spec, resolve)})


async def plugwork_worker(url: str, count: int, mode: str, profile: bool) -> dict[str, Any]:
    from plugwork.queue import store_from_url
    from plugwork.queue.jobs import JobStatus
    from plugwork.queue.worker import Worker

    store = store_from_url(url)
    await store.open()
    done = asyncio.Event()
    seen = 0
    latencies: list[float] = []

    def on_start(t: float) -> None:
        nonlocal seen
        if mode == "latency":
            latencies.append(time.time() - t)
        seen += 1
        if seen >= count:
            done.set()

    worker = Worker(
        store,
        plugwork_dispatcher(plugwork_actions(), on_start),
        concurrency=10,
        batch_size=500,
        poll_interval=1.0,
        cron=False,
    )
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    started = time.perf_counter()
    cpu_start = time.process_time()
    task = asyncio.create_task(worker.run())
    if mode == "latency":
        await asyncio.sleep(0.5)  # let the claimer start listening
        print("ready", flush=True)
    elif profiler is not None:
        profiler.enable()
    await done.wait()
    while (await store.counts())[JobStatus.COMPLETED] < count:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_start
    if profiler is not None:
        profiler.disable()
    await worker.stop()
    await task
    await store.close()
    result: dict[str, Any] = {"elapsed": elapsed, "count": count, "cpu_us_per_job": 1e6 * cpu / count}
    if mode == "latency":
        result["latencies"] = latencies[WARMUP:]
    if profiler is not None:
        import io
        import pstats

        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        result["profile"] = out.getvalue()
    return result


async def plugwork_setup(url: str) -> Any:
    from plugwork.queue import store_from_url
    from plugwork.queue.client import JobQueue

    store = store_from_url(url)
    await store.open()
    return JobQueue(store, plugwork_actions())


async def plugwork_enqueue_bulk(url: str, count: int) -> float:
    queue = await plugwork_setup(url)
    try:
        payloads = [{} for _ in range(count)]
        started = time.perf_counter()
        for i in range(0, count, 20_000):
            await queue.enqueue_many("noop", payloads[i : i + 20_000])
        return count / (time.perf_counter() - started)
    finally:
        await queue.store.close()


async def plugwork_trickle(url: str, count: int, rate: float) -> None:
    queue = await plugwork_setup(url)
    try:
        await trickle(lambda: queue.enqueue("noop", {"t": time.time()}), count, rate)
    finally:
        await queue.store.close()


# ---------------------------------------------------------------------------------------- procrastinate


def procrastinate_app(url: str, schema: str, on_start: Any = None) -> Any:
    import procrastinate

    conninfo = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop")
    async def noop(t: float = 0.0) -> None:
        if on_start is not None:
            on_start(t)

    return app


async def procrastinate_worker(url: str, schema: str, count: int, mode: str) -> dict[str, Any]:
    done = asyncio.Event()
    seen = 0
    latencies: list[float] = []

    def on_start(t: float) -> None:
        nonlocal seen
        if mode == "latency":
            latencies.append(time.time() - t)
        seen += 1
        if seen >= count:
            done.set()

    app = procrastinate_app(url, schema, on_start)
    async with app.open_async():
        started = time.perf_counter()
        cpu_start = time.process_time()
        options = {"concurrency": 10, "install_signal_handlers": False, "listen_notify": True}
        if mode == "latency":
            task = asyncio.create_task(app.run_worker_async(wait=True, **options))
            await asyncio.sleep(1.0)
            print("ready", flush=True)
            await done.wait()
        else:
            await app.run_worker_async(wait=False, **options)
            task = None
        query = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'succeeded'"
        while (await app.connector.execute_query_one_async(query))["n"] < count:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_start
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
    result: dict[str, Any] = {"elapsed": elapsed, "count": count, "cpu_us_per_job": 1e6 * cpu / count}
    if mode == "latency":
        result["latencies"] = latencies[WARMUP:]
    return result


async def procrastinate_setup(url: str, schema: str) -> None:
    app = procrastinate_app(url, schema)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def procrastinate_enqueue_bulk(url: str, schema: str, count: int) -> float:
    app = procrastinate_app(url, schema)
    async with app.open_async():
        task = app.tasks["noop"]
        started = time.perf_counter()
        for i in range(0, count, 20_000):
            await task.batch_defer_async(*({} for _ in range(min(20_000, count - i))))
        return count / (time.perf_counter() - started)


async def procrastinate_trickle(url: str, schema: str, count: int, rate: float) -> None:
    app = procrastinate_app(url, schema)
    async with app.open_async():
        task = app.tasks["noop"]
        await trickle(lambda: task.defer_async(t=time.time()), count, rate)


# ---------------------------------------------------------------------------------------------- driver


async def trickle(enqueue: Any, count: int, rate: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        await enqueue()
        pause = start + (i + 1) / rate - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)


def spawn(args: list[str]) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen([sys.executable, str(HERE), *args], stdout=subprocess.PIPE, text=True, env=env)


def result_of(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    assert proc.stdout is not None
    out, _ = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"worker printed no result (exit {proc.returncode}): {out[-2000:]}")


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:  # log lines may come first
        if line.strip() == "ready":
            return
    raise RuntimeError(f"worker exited before it was ready (exit {proc.wait()})")


def throughput(system: str, url: str, schema: str, count: int, profile: bool) -> dict[str, Any]:
    if system == "plugwork":
        enqueue_rate = asyncio.run(plugwork_enqueue_bulk(url, count))
    else:
        enqueue_rate = asyncio.run(procrastinate_enqueue_bulk(url, schema, count))
    args = ["--role", f"{system}-worker", "--url", url, "--schema", schema, "--count", str(count)]
    res = result_of(spawn([*args, "--mode", "throughput", *(["--profile"] if profile else [])]))
    return {
        "enqueue_rate": enqueue_rate,
        "rate": count / res["elapsed"],
        "cpu_us": res["cpu_us_per_job"],
        "profile": res.get("profile"),
    }


def latency(system: str, url: str, schema: str, count: int, rate: float) -> dict[str, float]:
    count += WARMUP
    args = ["--role", f"{system}-worker", "--url", url, "--schema", schema, "--count", str(count)]
    proc = spawn([*args, "--mode", "latency"])
    wait_ready(proc)
    if system == "plugwork":
        asyncio.run(plugwork_trickle(url, count, rate))
    else:
        asyncio.run(procrastinate_trickle(url, schema, count, rate))
    lat = result_of(proc)["latencies"]
    return {
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * percentile(lat, 0.99),
        "max_ms": 1000 * max(lat),
    }


async def migrate(url: str) -> None:
    from plugwork.queue import migrate as migrate_store

    await migrate_store(url)


async def pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--jobs", type=int, default=None, help="throughput jobs (default 20000, quick 5000)")
    parser.add_argument("--latency-jobs", type=int, default=None, help="latency samples (default 300)")
    parser.add_argument("--rate", type=float, default=100.0, help="latency arrivals per second")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-procrastinate", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the Plugwork PostgreSQL worker")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "plugwork-worker":
        print(json.dumps(asyncio.run(plugwork_worker(args.url, args.count, args.mode, args.profile))))
        return
    if args.role == "procrastinate-worker":
        print(json.dumps(asyncio.run(procrastinate_worker(args.url, args.schema, args.count, args.mode))))
        return

    jobs = args.jobs or (5_000 if args.quick else 20_000)
    samples = args.latency_jobs or (100 if args.quick else 300)
    tag = secrets.token_hex(4)
    systems = ["plugwork"] if args.skip_procrastinate else ["plugwork", "procrastinate"]
    schemas = {s: f"bench_{s[:4]}_{tag}" for s in systems}
    results: dict[str, dict[str, Any]] = {}
    try:
        for system in systems:
            for phase in ("throughput", "latency"):
                schema = f"{schemas[system]}_{phase[0]}"
                asyncio.run(pg_admin(args.pg_url, f"CREATE SCHEMA {schema}"))
                url = with_schema(args.pg_url, schema)
                target = url if system == "plugwork" else args.pg_url
                if system == "procrastinate":
                    asyncio.run(procrastinate_setup(args.pg_url, schema))
                else:
                    asyncio.run(migrate(url))
                if phase == "throughput":
                    print(f"[{system}] throughput: {jobs} jobs ...", file=sys.stderr, flush=True)
                    results.setdefault(system, {}).update(
                        throughput(system, target, schema, jobs, args.profile)
                    )
                else:
                    note = f"[{system}] latency: {samples} jobs at {args.rate:.0f}/s ..."
                    print(note, file=sys.stderr, flush=True)
                    results[system].update(latency(system, target, schema, samples, args.rate))
        if not args.skip_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db"
                print(f"[plugwork-sqlite] throughput: {jobs} jobs ...", file=sys.stderr, flush=True)
                results["plugwork-sqlite"] = throughput("plugwork", url, "", jobs, False)
    finally:
        for system in systems:
            for phase in ("t", "l"):
                asyncio.run(pg_admin(args.pg_url, f"DROP SCHEMA IF EXISTS {schemas[system]}_{phase} CASCADE"))
    report(results, jobs, samples)


def report(results: dict[str, dict[str, Any]], jobs: int, samples: int) -> None:
    print(f"\nJob queue benchmark: {jobs} no-op jobs; latency over {samples} jobs arriving one at a time\n")
    head = f"{'system':<18} {'enqueue jobs/s':>15} {'process jobs/s':>15} {'worker CPU µs/job':>18}"
    print(f"{head} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, r in results.items():
        p50 = f"{r['p50_ms']:8.2f}" if "p50_ms" in r else f"{'-':>8}"
        p99 = f"{r['p99_ms']:8.2f}" if "p99_ms" in r else f"{'-':>8}"
        mx = f"{r['max_ms']:8.2f}" if "max_ms" in r else f"{'-':>8}"
        print(
            f"{name:<18} {r['enqueue_rate']:15,.0f} {r['rate']:15,.0f} {r['cpu_us']:18.1f} {p50} {p99} {mx}"
        )
    if "procrastinate" in results:
        pw, pc = results["plugwork"], results["procrastinate"]
        print(
            f"\nPlugwork / procrastinate: processing x{pw['rate'] / pc['rate']:.1f}, "
            f"bulk enqueue x{pw['enqueue_rate'] / pc['enqueue_rate']:.1f}"
        )
    profile = results.get("plugwork", {}).get("profile")
    if profile:
        print("\nPlugwork worker profile (PostgreSQL, by own time):\n" + profile)


if __name__ == "__main__":
    main()
