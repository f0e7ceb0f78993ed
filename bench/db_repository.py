"""Repository[Model].get_by_id and .create beside the same calls written by hand with SQLAlchemy.

Same engine, same session factory, same model, interleaved rounds; prints the CPU µs this process spends
per call (the database server's time is the same for both) and the ratios
(goal: repository <= 1.2x hand-written). SQLite always; PostgreSQL too when reachable
(PLUGWORK_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test, in a scratch schema).

    python bench/db_repository.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

# bench/ goes last on the path: its queue.py must not shadow the standard library's (aiosqlite uses it).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]
from common import table  # noqa: E402

from plugwork.db import Base, Database, Repository, TimestampMixin, UUIDMixin  # noqa: E402

PG_URL = os.environ.get("PLUGWORK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Item(UUIDMixin, TimestampMixin, Base):
    __tablename__ = "bench_items"

    name: Mapped[str] = mapped_column(String(100))


async def _timed(calls: int, one: Callable[[int], Awaitable[object]]) -> float:
    # CPU time of this process (every thread: aiosqlite's too), not wall time: on a shared machine the
    # wall clock mostly measures the neighbours, while what the repository adds is CPU spent here.
    start = time.process_time()
    for i in range(calls):
        await one(i)
    return (time.process_time() - start) / calls * 1e6


async def measure(url: str, calls: int, rounds: int) -> dict[str, float]:
    db = Database(url=url)
    await db.start()
    await db.create_all(Base.metadata)
    factory = db.session_factory
    repo = Repository(factory, Item)
    ids = [(await repo.create(name=f"seed-{i}")).id for i in range(100)]

    async def hand_get(i: int) -> object:
        async with factory() as session:
            return await session.get(Item, ids[i % 100])

    async def repo_get(i: int) -> object:
        return await repo.get_by_id(ids[i % 100])

    async def hand_create(i: int) -> object:
        item = Item(name=f"hand-{i}")
        async with factory() as session:
            session.add(item)
            await session.commit()
        return item

    async def repo_create(i: int) -> object:
        return await repo.create(name=f"repo-{i}")

    peers = {
        "hand get": hand_get,
        "repo get_by_id": repo_get,
        "hand create": hand_create,
        "repo create": repo_create,
    }
    for one in peers.values():  # warm-up
        await _timed(50, one)
    best: dict[str, float] = {name: float("inf") for name in peers}
    for round_no in range(rounds):
        order = list(peers.items()) if round_no % 2 == 0 else list(reversed(peers.items()))
        for name, one in order:
            best[name] = min(best[name], await _timed(calls, one))
    await db.teardown(Base.metadata)
    await db.stop()
    return best


async def _pg_schema_url() -> tuple[str, Callable[[], Awaitable[None]]] | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_URL, timeout=3)
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}")
        return None
    schema = f"bench_{secrets.token_hex(4)}"
    await conn.execute(f"CREATE SCHEMA {schema}")

    async def drop() -> None:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}search_path={schema}", drop


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the best is reported")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{tmp}/bench.db", args.calls, args.rounds)
    pg = await _pg_schema_url()
    if pg is not None:
        url, drop = pg
        try:
            results["postgresql"] = await measure(url, args.calls, args.rounds)
        finally:
            await drop()
    rows = []
    for backend, r in results.items():
        rows.append(
            [
                backend,
                f"{r['hand get']:.0f}",
                f"{r['repo get_by_id']:.0f}",
                f"{r['repo get_by_id'] / r['hand get']:.2f}x",
                f"{r['hand create']:.0f}",
                f"{r['repo create']:.0f}",
                f"{r['repo create'] / r['hand create']:.2f}x",
            ]
        )
    print(f"\nCPU µs per call, best of {args.rounds} rounds of {args.calls} calls (goal: <= 1.20x)")
    print(table(["backend", "hand get", "repo get", "ratio", "hand create", "repo create", "ratio"], rows))


if __name__ == "__main__":
    asyncio.run(main())
