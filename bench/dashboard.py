# ruff: noqa: E402  (sys.path is fixed before the imports below)
"""Dashboard job pages on 100,000 jobs: keyset pages (the dashboard) beside OFFSET pages (``GET /jobs``).

One invocation fills a SQLite file and a PostgreSQL schema with the same jobs (statuses, actions and
queues mixed, 10% dead with an error), then times each query the dashboard runs, median of the runs, and
prints the ``EXPLAIN`` of each so that the index it uses is visible.

    python bench/dashboard.py                 # 100,000 jobs
    python bench/dashboard.py --jobs 20000

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
from plugwork.queue.jobs import JobStatus, NewJob, encode_json
from plugwork.queue.store import JobStore

RUNS = 15
ACTIONS = ["greet", "send_mail", "charge", "resize_image", "sync"]
QUEUES = ["default", "mail", "billing"]


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


async def measure(
    name: str, store: JobStore, ids: list[str], explain: Callable[[str, list[Any]], Awaitable[str]]
) -> None:
    deep = ids[len(ids) // 100]  # a page near the oldest end: 99% of the jobs are newer
    cases: list[tuple[str, JobQuery]] = [
        ("newest page", JobQuery()),
        ("deep page (before an old id)", JobQuery(before=deep)),
        ("status=dead", JobQuery(status=JobStatus.DEAD)),
        ("status=dead, deep", JobQuery(status=JobStatus.DEAD, before=deep)),
        ("action=charge", JobQuery(action="charge")),
        ("queue=billing, deep", JobQuery(queue="billing", before=deep)),
        ("text 'user-4242' (rare)", JobQuery(text="user-4242")),
        ("text 'boom' (every dead job)", JobQuery(text="boom")),
    ]
    print(f"\n== {name}: {len(ids):,} jobs, median of {RUNS} runs, 50 jobs a page ==")
    for label, query in cases:
        ms = await timed(lambda q=query: store.page(q))
        print(f"  {label:34s} {ms:8.2f} ms")
    offset = len(ids) - len(ids) // 100
    keyset = await timed(lambda: store.page(JobQuery(before=deep)))
    offset_ms = await timed(lambda: store.list(limit=50, offset=offset))
    label = "same deep page by OFFSET (GET /jobs)"
    print(f"  {label:34s} {offset_ms:8.2f} ms   keyset is {offset_ms / keyset:.1f}x faster")
    print(f"  {'live counts (queue x status)':34s} {await timed(store.queue_counts):8.2f} ms")
    print("  EXPLAIN:")
    for label, query in cases[:6]:
        sql, params = page_sql("sqlite" if name == "SQLite" else "postgres", query)
        print(f"    {label}: {await explain(sql, params)}")


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


async def postgres_bench(n: int, url: str) -> None:
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

        async def explain(sql: str, params: list[Any]) -> str:
            await admin.execute(f"SET search_path TO {schema}")
            rows = await admin.fetch("EXPLAIN " + sql, *params)
            return " / ".join(r[0].strip() for r in rows if "->" in r[0] or r is rows[0])

        await measure("PostgreSQL", store, ids, explain)
    finally:
        await store.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    default_pg = os.environ.get("PLUGWORK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-url", default=default_pg)
    args = parser.parse_args()
    asyncio.run(sqlite_bench(args.jobs))
    asyncio.run(postgres_bench(args.jobs, args.pg_url))


if __name__ == "__main__":
    main()
