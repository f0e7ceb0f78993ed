# ruff: noqa: E402  (sys.path is fixed before the stdlib imports below, see there)
"""Job queue benchmark: ``plugwork worker`` as users run it, beside procrastinate, on the same PostgreSQL.

One invocation runs, each system in its own schema of the same database, at the same concurrency (10,
Plugwork's default ``max_concurrent_jobs``):

* **Plugwork**: the real ``plugwork worker bench.apps.queue_app:app`` command, default settings, the full
  app pipeline (metrics, logging context, leases, retries), console logging at INFO as shipped. Once it
  has run a warm-up job, N no-op jobs are enqueued in one bulk transaction; the processing rate runs from
  that commit until no job is waiting or running. Then enqueue-to-start latency: ``stamp`` jobs enqueued
  one at a time at about 100/s; each returns the time its handler started.
* **procrastinate**: its worker (``App.run_worker_async``, what its CLI runs) in a subprocess, with
  ``concurrency=10`` and LISTEN/NOTIFY, measured the same way.
* **Plugwork on SQLite**: the same command with ``PLUGWORK_QUEUE_URL=sqlite:///...``.

Worker CPU per job is the worker process's user + system time (``/proc``) over the timed span.

    python bench/queue.py                  # 20,000 jobs (procrastinate 5,000), 300 latency samples
    python bench/queue.py --quick          # 5,000 jobs, 100 samples
    python bench/queue.py --tuned 100      # also a labelled tuned run: plugwork worker --concurrency 100
    python bench/queue.py --profile        # cProfile of the PostgreSQL worker process, top functions

PostgreSQL URL: --pg-url, else $PLUGWORK_BENCH_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test.
Commits are durable (synchronous_commit as the server has it, normally on): the setting is printed.
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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_PG = os.environ.get("PLUGWORK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
APP = "bench.apps.queue_app:app"
CONCURRENCY = 10  # Plugwork's default max_concurrent_jobs; procrastinate runs with the same
WARMUP = 5
"""Latency runs send this many jobs first, uncounted: they pay for the first prepared statements."""


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plugwork_command() -> list[str]:
    exe = Path(sys.executable).parent / "plugwork"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "plugwork.cli"]


# --------------------------------------------------------------------------------------------- Plugwork


class LogTail:
    """Reads a child's stderr in a thread (so the pipe never fills) and remembers the last lines."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip())
            del self.lines[:-50]


@contextlib.contextmanager
def plugwork_worker(url: str, extra: list[str], profile_to: str | None) -> Iterator[subprocess.Popen[str]]:
    """``plugwork worker APP`` with the queue URL in the environment, stopped with SIGTERM (graceful)."""
    env = {**os.environ, "PLUGWORK_QUEUE_URL": url, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    cmd = [*plugwork_command(), "worker", APP, *extra]
    if profile_to:
        cmd = [sys.executable, "-m", "cProfile", "-o", profile_to, *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    tail = LogTail(proc.stderr)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.returncode not in (0, -15):
            print("\n".join(tail.lines[-20:]), file=sys.stderr)


async def wait_drained(store: Any, proc: subprocess.Popen[str], timeout: float = 600) -> float:
    """Poll the store until no job waits or runs; return the perf_counter time it was seen empty."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited ({proc.returncode}) before the jobs were done")
        if not any((await store.depth()).values()):
            return time.perf_counter()
        await asyncio.sleep(0.005)
    raise RuntimeError("jobs were not done in time")


async def plugwork_run(
    url: str, count: int, samples: int, rate: float, extra: list[str], profile: bool
) -> dict[str, Any]:
    from bench.apps.queue_app import app

    from plugwork.queue import store_from_url
    from plugwork.queue.client import JobQueue

    store = store_from_url(url)
    await store.open()
    queue = JobQueue(store, app.actions)
    profile_to = tempfile.mktemp(suffix=".prof") if profile else None
    result: dict[str, Any] = {}
    try:
        with plugwork_worker(url, extra, profile_to) as proc:
            # Ready once it has run a job: the process started, migrated, connected and warmed up.
            await queue.enqueue_many("noop", [{} for _ in range(WARMUP)])
            await wait_drained(store, proc, timeout=60)
            payloads = [{} for _ in range(count)]
            started = time.perf_counter()
            await queue.enqueue_many("noop", payloads)  # one transaction: all visible at its commit
            committed = time.perf_counter()
            cpu0 = cpu_seconds(proc.pid)
            ended = await wait_drained(store, proc)
            cpu = cpu_seconds(proc.pid) - cpu0
            result.update(
                enqueue_rate=count / (committed - started),
                rate=count / (ended - committed),
                cpu_us=1e6 * cpu / count,
            )
            if samples:
                lat = await plugwork_latency(queue, samples + WARMUP, rate)
                result.update(latency_summary(lat[WARMUP:]))
    finally:
        await store.close()
    if profile_to:
        result["profile"] = profile_text(profile_to)
    return result


async def plugwork_latency(queue: Any, count: int, rate: float) -> list[float]:
    sent: list[tuple[str, float]] = []

    async def one() -> None:
        t = time.time()
        sent.append((await queue.enqueue("stamp", {"t": t}), t))

    await trickle(one, count, rate)
    out = []
    for job_id, t in sent:
        job = await queue.wait(job_id, timeout=30)
        out.append(float(job.result) - t)
    return out


def profile_text(path: str) -> str:
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(path, stream=out).sort_stats("tottime").print_stats(25)
    os.unlink(path)
    return out.getvalue()


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


async def procrastinate_worker(url: str, schema: str, count: int) -> None:
    """The worker subprocess: prints ``ready``, then the handler start times once ``count`` jobs ran."""
    done = asyncio.Event()
    starts: list[tuple[float, float]] = []

    def on_start(t: float) -> None:
        starts.append((t, time.time()))
        if len(starts) >= count:
            done.set()

    app = procrastinate_app(url, schema, on_start)
    async with app.open_async():
        options = {"concurrency": CONCURRENCY, "install_signal_handlers": False, "listen_notify": True}
        task = asyncio.create_task(app.run_worker_async(wait=True, **options))
        await asyncio.sleep(1.0)
        print("ready", flush=True)
        await done.wait()
        query = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'succeeded'"
        while (await app.connector.execute_query_one_async(query))["n"] < count:
            await asyncio.sleep(0.005)
        print(json.dumps({"ended": time.time(), "starts": starts}), flush=True)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 10)


async def procrastinate_setup(url: str, schema: str) -> None:
    app = procrastinate_app(url, schema)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


def procrastinate_run(url: str, schema: str, count: int, samples: int, rate: float) -> dict[str, Any]:
    asyncio.run(procrastinate_setup(url, schema))
    result: dict[str, Any] = {}
    proc = spawn_procrastinate(url, schema, count)
    wait_ready(proc)

    async def bulk() -> tuple[float, float]:
        app = procrastinate_app(url, schema)
        async with app.open_async():
            started = time.perf_counter()
            await app.tasks["noop"].batch_defer_async(*({} for _ in range(count)))
            committed_wall = time.time()
            return count / (time.perf_counter() - started), committed_wall

    cpu0 = cpu_seconds(proc.pid)
    enqueue_rate, committed = asyncio.run(bulk())
    out = result_of(proc)
    result.update(
        enqueue_rate=enqueue_rate,
        rate=count / (out["ended"] - committed),
        cpu_us=1e6 * (out["cpu"] - cpu0) / count,
    )
    if samples:
        proc = spawn_procrastinate(url, schema, samples + WARMUP)
        wait_ready(proc)

        async def trickled() -> None:
            app = procrastinate_app(url, schema)
            async with app.open_async():
                task = app.tasks["noop"]
                await trickle(lambda: task.defer_async(t=time.time()), samples + WARMUP, rate)

        asyncio.run(trickled())
        starts = result_of(proc)["starts"][WARMUP:]
        result.update(latency_summary([s - t for t, s in starts]))
    return result


def spawn_procrastinate(url: str, schema: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    args = ["--role", "procrastinate-worker", "--url", url, "--schema", schema, "--count", str(count)]
    return subprocess.Popen([sys.executable, str(HERE), *args], stdout=subprocess.PIPE, text=True, env=env)


def result_of(proc: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            res = dict(json.loads(line))
            res["cpu"] = cpu_seconds(proc.pid)  # the worker still runs: it prints before it stops
            proc.wait(timeout=timeout)
            return res
    raise RuntimeError(f"worker printed no result (exit {proc.wait()})")


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:  # log lines may come first
        if line.strip() == "ready":
            return
    raise RuntimeError(f"worker exited before it was ready (exit {proc.wait()})")


# ---------------------------------------------------------------------------------------------- driver


async def trickle(enqueue: Any, count: int, rate: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        await enqueue()
        pause = start + (i + 1) / rate - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)


def latency_summary(lat: list[float]) -> dict[str, float]:
    return {
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * percentile(lat, 0.99),
        "max_ms": 1000 * max(lat),
    }


async def pg_admin(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--jobs", type=int, default=None, help="throughput jobs (default 20000, quick 5000)")
    parser.add_argument("--procrastinate-jobs", type=int, default=None, help="default: min(jobs, 5000)")
    parser.add_argument("--latency-jobs", type=int, default=None, help="latency samples (default 300)")
    parser.add_argument("--rate", type=float, default=100.0, help="latency arrivals per second")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-procrastinate", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--tuned", type=int, metavar="N", help="also run a tuned worker: --concurrency N")
    parser.add_argument("--profile", action="store_true", help="cProfile each Plugwork worker process")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "procrastinate-worker":
        asyncio.run(procrastinate_worker(args.url, args.schema, args.count))
        return

    sys.path.insert(0, str(ROOT))  # bench.apps.queue_app
    jobs = args.jobs or (5_000 if args.quick else 20_000)
    pc_jobs = args.procrastinate_jobs or min(jobs, 5_000)
    samples = args.latency_jobs if args.latency_jobs is not None else (100 if args.quick else 300)
    sync = asyncio.run(pg_admin(args.pg_url, "SHOW synchronous_commit"))
    tag = secrets.token_hex(4)
    runs: list[tuple[str, str, list[str], int, int]] = [("plugwork", "pg", [], jobs, samples)]
    if not args.skip_procrastinate:
        runs.append(("procrastinate", "pg", [], pc_jobs, samples))
    if not args.skip_sqlite:
        runs.append(("plugwork-sqlite", "sqlite", [], jobs, 0))
    if args.tuned:
        runs.append((f"plugwork tuned c={args.tuned}", "pg", ["--concurrency", str(args.tuned)], jobs, 0))
    print(
        f"PostgreSQL synchronous_commit={sync}; concurrency {CONCURRENCY} for both systems", file=sys.stderr
    )
    print(f"plugwork: {' '.join(['plugwork', 'worker', APP])} (default settings)", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    schemas: list[str] = []
    try:
        for index, (name, backend, extra, count, n_samples) in enumerate(runs):
            print(f"[{name}] {count} jobs, {n_samples} latency samples ...", file=sys.stderr, flush=True)
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/bench.db"
                    results[name] = asyncio.run(plugwork_run(url, count, 0, args.rate, extra, args.profile))
                results[name]["jobs"] = count
                continue
            schema = f"bench_{index}_{tag}"
            schemas.append(schema)
            asyncio.run(pg_admin(args.pg_url, f"CREATE SCHEMA {schema}"))
            if name == "procrastinate":
                results[name] = procrastinate_run(args.pg_url, schema, count, n_samples, args.rate)
            else:
                url = with_schema(args.pg_url, schema)
                results[name] = asyncio.run(
                    plugwork_run(url, count, n_samples, args.rate, extra, args.profile)
                )
            results[name]["jobs"] = count
    finally:
        for schema in schemas:
            asyncio.run(pg_admin(args.pg_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    report(results, samples, sync)


def report(results: dict[str, dict[str, Any]], samples: int, sync: str) -> None:
    print(
        f"\nJob queue: no-op jobs, concurrency {CONCURRENCY}, synchronous_commit={sync}; latency over "
        f"{samples} jobs arriving one at a time\n"
    )
    head = (
        f"{'system':<26} {'jobs':>6} {'enqueue jobs/s':>15} {'process jobs/s':>15} {'worker CPU µs/job':>18}"
    )
    print("plugwork = `plugwork worker bench.apps.queue_app:app`, default settings (PLUGWORK_QUEUE_URL only)")
    print(f"procrastinate = App.run_worker_async(concurrency={CONCURRENCY}, listen_notify=True)")
    print("rows marked tuned change the settings shown\n")
    print(f"{head} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, r in results.items():
        cols = [f"{r[k]:8.2f}" if k in r else f"{'-':>8}" for k in ("p50_ms", "p99_ms", "max_ms")]
        print(
            f"{name:<26} {r.get('jobs', 0):6} {r['enqueue_rate']:15,.0f} {r['rate']:15,.0f} "
            f"{r['cpu_us']:18.1f} " + " ".join(cols)
        )
    if "procrastinate" in results:
        pw, pc = results["plugwork"], results["procrastinate"]
        print(
            f"\nPlugwork / procrastinate: processing x{pw['rate'] / pc['rate']:.1f}, "
            f"bulk enqueue x{pw['enqueue_rate'] / pc['enqueue_rate']:.1f}"
        )
    for name, r in results.items():
        if r.get("profile"):
            print(f"\n{name} worker profile (whole process, by own time):\n" + r["profile"])


if __name__ == "__main__":
    main()
