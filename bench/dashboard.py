# ruff: noqa: E402  (sys.path is fixed before the imports below)
"""Dashboard job pages on 100,000 jobs: keyset pages (the dashboard) beside OFFSET pages (``GET /jobs``).

One invocation fills a SQLite file and a PostgreSQL schema with the same jobs (statuses, actions and
queues mixed, 10% dead with an error), then times each query the dashboard runs, median of the runs, and
prints the ``EXPLAIN`` of each so that the index it uses is visible. The filters include the worst cases:
a value no job has and a text that matches few jobs or only old ones (each reads every job).

    python bench/dashboard.py                 # 100,000 jobs
    python bench/dashboard.py --jobs 20000
    python bench/dashboard.py --text-index    # PostgreSQL again with the optional trigram index
    python bench/dashboard.py --write-cost    # what that index costs the queue (enqueue, worker loop)

``--write-cost`` runs, in fresh schemas and alternating, a bulk enqueue of 50,000 jobs in batches of 500
and the worker's database loop over them (claim 500, start, finish) with and without the index
(``sql/postgres/text_index.sql``), and reports jobs/s and the PostgreSQL backends' CPU per job (from
``/proc``: the server must run on this machine for that column).

PostgreSQL URL: --pg-url, else $PLUGWORK_BENCH_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test
(skipped with a note when it cannot be reached).
"""

from __future__ import annotations

import os
import sys

# This folder's queue.py would shadow the stdlib's `queue` (aiosqlite imports it): drop the folder first.
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _BENCH_DIR]

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from plugwork.queue import store_from_url
from plugwork.queue.browse import JobQuery, page_sql
from plugwork.queue.jobs import Finish, JobStatus, NewJob, encode_json
from plugwork.queue.sql import statements
from plugwork.queue.store import JobStore

RUNS = 15
ACTIONS = ["greet", "send_mail", "charge", "resize_image", "sync"]
QUEUES = ["default", "mail", "billing"]
TEXT_INDEX = "text_index.sql"
OLD_TEXT_FILTER = (  # the text filter before this bench's figures: ILIKE on each column
    "(action ILIKE $1 ESCAPE '\\' OR payload ILIKE $1 ESCAPE '\\' OR coalesce(error, '') ILIKE $1 "
    "ESCAPE '\\' OR correlation_id = $2)"
)


def jobs(n: int) -> list[NewJob]:
    return [
        NewJob(
            action=ACTIONS[i % len(ACTIONS)],
            payload=encode_json({"name": f"user-{i}", "order": i}),
            queue=QUEUES[i % len(QUEUES)],
        )
        for i in range(n)
    ]


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def fill(store: JobStore, n: int, mark_dead: Callable[[], Awaitable[None]]) -> list[str]:
    ids: list[str] = []
    batch = jobs(n)
    for start in range(0, n, 10_000):
        ids += await store.enqueue(batch[start : start + 10_000])
    await mark_dead()
    return ids


def cases(ids: list[str]) -> list[tuple[str, JobQuery]]:
    deep = ids[len(ids) // 100]  # a page near the oldest end: 99% of the jobs are newer
    return [
        ("newest page", JobQuery()),
        ("deep page (before an old id)", JobQuery(before=deep)),
        ("status=dead", JobQuery(status=JobStatus.DEAD)),
        ("status=dead, deep", JobQuery(status=JobStatus.DEAD, before=deep)),
        ("action=charge", JobQuery(action="charge")),
        ("queue=billing, deep", JobQuery(queue="billing", before=deep)),
        ("action no job has", JobQuery(action="refund")),
        ("status=ready, queue no job has", JobQuery(status=JobStatus.READY, queue="urgent")),
        ("text 'user-4242' (rare)", JobQuery(text="user-4242")),
        ("text 'USER-4242' (other case)", JobQuery(text="USER-4242")),
        ("text 'zoë' (not ASCII, none)", JobQuery(text="zoë")),
        ("text 'user-1' (only old jobs)", JobQuery(text="user-1")),
        ("text 'user-4242', status=ready", JobQuery(text="user-4242", status=JobStatus.READY)),
        ("text 'boom' (every dead job)", JobQuery(text="boom")),
    ]


async def measure(
    name: str,
    store: JobStore,
    ids: list[str],
    explain: Callable[[str, list[Any]], Awaitable[str]],
    only_text: bool = False,
) -> dict[str, float]:
    measured = [(label, q) for label, q in cases(ids) if q.text or not only_text]
    print(f"\n== {name}: {len(ids):,} jobs, median of {RUNS} runs, 50 jobs a page ==")
    out: dict[str, float] = {}
    for label, query in measured:
        out[label] = ms = await timed(lambda q=query: store.page(q))
        print(f"  {label:34s} {ms:8.2f} ms")
    if not only_text:
        deep = ids[len(ids) // 100]
        offset = len(ids) - len(ids) // 100
        keyset = await timed(lambda: store.page(JobQuery(before=deep)))
        offset_ms = await timed(lambda: store.list(limit=50, offset=offset))
        label = "same deep page by OFFSET (GET /jobs)"
        print(f"  {label:34s} {offset_ms:8.2f} ms   keyset is {offset_ms / keyset:.1f}x faster")
        print(f"  {'live counts (queue x status)':34s} {await timed(store.queue_counts):8.2f} ms")
    print("  EXPLAIN:")
    for label, query in measured:
        sql, params = page_sql("sqlite" if name == "SQLite" else "postgres", query)
        print(f"    {label}: {await explain(sql, params)}")
    return out


async def sqlite_bench(n: int) -> None:
    import aiosqlite

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/jobs.db"
        store = store_from_url(f"sqlite:///{path}")
        await store.open()

        async def mark_dead() -> None:
            async with aiosqlite.connect(path) as db:
                await db.execute(
                    "UPDATE plugwork_jobs SET status='dead', error=?1 WHERE id % 10 = 0",
                    (encode_json({"error_code": "INTERNAL", "error_message": "boom"}),),
                )
                await db.commit()

        ids = await fill(store, n, mark_dead)

        async def explain(sql: str, params: list[Any]) -> str:
            async with aiosqlite.connect(path) as db:
                rows = await db.execute_fetchall("EXPLAIN QUERY PLAN " + sql, params)
            return " / ".join(str(r[3]) for r in rows)

        await measure("SQLite", store, ids, explain)
        await store.close()


async def postgres_bench(n: int, url: str, text_index: bool) -> None:
    import asyncpg

    try:
        admin = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"\n== PostgreSQL: skipped ({exc}) ==")
        return
    schema = f"bench_{secrets.token_hex(4)}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    scoped = f"{url}{'&' if '?' in url else '?'}search_path={schema}"
    store = store_from_url(scoped)
    try:
        await store.open()

        async def mark_dead() -> None:
            await admin.execute(
                f"UPDATE {schema}.plugwork_jobs SET status='dead', error=$1 WHERE id % 10 = 0",
                encode_json({"error_code": "INTERNAL", "error_message": "boom"}),
            )
            await admin.execute(f"ANALYZE {schema}.plugwork_jobs")

        ids = await fill(store, n, mark_dead)
        # The store plans a text search for its pattern (SET LOCAL plan_cache_mode); EXPLAIN does the same.
        await admin.execute(f"SET search_path TO {schema}, public; SET plan_cache_mode = force_custom_plan")

        async def explain(sql: str, params: list[Any]) -> str:
            rows = await admin.fetch("EXPLAIN " + sql, *params)
            return " / ".join(r[0].strip() for r in rows if "->" in r[0] or r is rows[0])

        await measure("PostgreSQL", store, ids, explain)
        await compare_text_shapes(admin, scoped)
        if text_index:
            try:
                for statement in statements("postgres", TEXT_INDEX):
                    await admin.execute(statement)
            except asyncpg.PostgresError as exc:
                print(f"\n== PostgreSQL with the trigram index: skipped ({exc}) ==")
            else:
                await admin.execute("ANALYZE plugwork_jobs")
                await measure("PostgreSQL, optional trigram index", store, ids, explain, only_text=True)
    finally:
        await store.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def compare_text_shapes(admin: Any, scoped_url: str) -> None:
    """The rare text search as the store runs it, beside a reused generic plan and the old ILIKE filter."""
    import asyncpg

    sql, params = page_sql("postgres", JobQuery(text="user-4242"))
    old_sql = f"SELECT * FROM plugwork_jobs WHERE {OLD_TEXT_FILTER} ORDER BY id DESC LIMIT $3"
    conn = await asyncpg.connect(scoped_url)
    try:

        async def custom(query: str, args: list[Any]) -> None:
            async with conn.transaction():
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                await conn.fetch(query, *args)

        async def reused(query: str, args: list[Any]) -> None:
            await conn.fetch(query, *args)  # a cached prepared statement: generic after five runs

        for _ in range(6):
            await reused(sql, params)  # past PostgreSQL's five custom plans
        shown = {
            "as the store runs it (custom plan)": await timed(lambda: custom(sql, params)),
            "the same, generic plan": await timed(lambda: reused(sql, params)),
            "old ILIKE filter, custom plan": await timed(
                lambda: custom(old_sql, ["%user-4242%", "user-4242", 51])
            ),
        }
    finally:
        await conn.close()
    print("  the rare text search, three ways:")
    base = shown["as the store runs it (custom plan)"]
    for label, ms in shown.items():
        print(f"    {label:40s} {ms:8.2f} ms   x{ms / base:.1f}")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def write_cost(url: str, n: int = 50_000, rounds: int = 2) -> None:
    """Bulk enqueue and the worker's claim/start/finish loop, with and without the optional text index."""
    import asyncpg

    try:
        admin = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"\n== write cost: skipped ({exc}) ==")
        return
    batch = jobs(n)
    results: dict[str, list[tuple[float, float, float, float]]] = {"without": [], "with": []}
    try:
        for _ in range(rounds):
            for variant in results:
                schema = f"bench_{secrets.token_hex(4)}"
                await admin.execute(f"CREATE SCHEMA {schema}")
                scoped = f"{url}{'&' if '?' in url else '?'}search_path={schema}&application_name={schema}"
                store = store_from_url(scoped)
                try:
                    await store.open()
                    if variant == "with":
                        await admin.execute(f"SET search_path TO {schema}, public")
                        for statement in statements("postgres", TEXT_INDEX):
                            await admin.execute(statement)
                    pids = [
                        r[0]
                        for r in await admin.fetch(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", schema
                        )
                    ]
                    cpu, start = _cpu_seconds(pids), time.perf_counter()
                    for at in range(0, n, 500):
                        await store.enqueue(batch[at : at + 500])
                    enqueue_s, enqueue_cpu = time.perf_counter() - start, _cpu_seconds(pids) - cpu
                    cpu, start, done = _cpu_seconds(pids), time.perf_counter(), 0
                    while claimed := await store.claim("bench", None, 500, 60):
                        ids = [c.id for c in claimed]
                        await store.start("bench", ids)
                        done += await store.finish(
                            "bench", [Finish(i, JobStatus.COMPLETED, "null") for i in ids]
                        )
                    loop_s, loop_cpu = time.perf_counter() - start, _cpu_seconds(pids) - cpu
                    assert done == n, (done, n)
                    results[variant].append((n / enqueue_s, enqueue_cpu / n, n / loop_s, loop_cpu / n))
                finally:
                    await store.close()
                    await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    except asyncpg.PostgresError as exc:
        print(f"\n== write cost: skipped ({exc}) ==")
        return
    finally:
        await admin.close()
    print(f"\n== write cost of the optional text index: {n:,} jobs in batches of 500, median of {rounds} ==")
    print(f"  {'':18s} {'enqueue jobs/s':>15s} {'PG CPU/job':>11s} {'loop jobs/s':>12s} {'PG CPU/job':>11s}")
    for variant, rows in results.items():
        cols = [statistics.median(r[i] for r in rows) for i in range(4)]
        print(
            f"  {variant + ' the index':18s} {cols[0]:15,.0f} {cols[1] * 1e6:9.1f}µs"
            f" {cols[2]:12,.0f} {cols[3] * 1e6:9.1f}µs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    default_pg = os.environ.get("PLUGWORK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-url", default=default_pg)
    parser.add_argument(
        "--text-index", action="store_true", help="PostgreSQL text searches again with the optional index"
    )
    parser.add_argument(
        "--write-cost", action="store_true", help="only: what the optional index costs the queue's writes"
    )
    args = parser.parse_args()
    if args.write_cost:
        asyncio.run(write_cost(args.pg_url))
        return
    asyncio.run(sqlite_bench(args.jobs))
    asyncio.run(postgres_bench(args.jobs, args.pg_url, args.text_index))


if __name__ == "__main__":
    main()
