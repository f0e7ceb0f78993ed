"""SOAJS middleware overhead: the same ASGI apps with and without SOAJSMiddleware, a 2 KB soajsinjectobj.

Each request is one call of the ASGI app in-process (scope, receive, send), so the figure is the
middleware's own Python cost per request, free of network and load-generator noise. The peers run
interleaved in the same process, several rounds each; the median round counts. Goal: at most 10 µs per
request added by the middleware on a raw ASGI app.

    python bench/soajs_middleware.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table

from plugwork.soajs import SOAJSMiddleware, get_soajs_context

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def header(size: int = 2048) -> bytes:
    """A ``soajsinjectobj`` shaped like the gateway's, padded to ``size`` bytes."""
    obj: dict[str, Any] = {
        "tenant": {"id": "5c0e74ba9acc3c5a84a51259", "name": "Console Tenant", "code": "DBTN", "locked": True,
                   "roaming": None, "type": "product", "profile": {"plan": "gold"}},
        "key": {"config": {"commonFields": {"mail": {"from": "me@localhost.com"}}, "svc": {"greeting": "hi"}},
                "iKey": "a139786a6e6d18e48b4987e83789430b", "eKey": "3d90" * 48},
        "application": {"product": "DSBRD", "package": "DSBRD_GUEST", "appId": "5c0e74ba9acc3c5a84a5125a"},
        "package": {},
        "device": "Mozilla/5.0 (X11; Linux x86_64)",
        "geo": {"ip": "127.0.0.1"},
        "urac": {"_id": "5c8d0c505653de3985aa0ffd", "username": "owner", "firstName": "J%C3%B6rg",
                 "lastName": "O%27Neil", "email": "me@example.com", "groups": ["owner"],
                 "tenant": {"id": "5c0e74ba9acc3c5a84a51259", "code": "DBTN"}},
        "awareness": {"host": "127.0.0.1", "port": 4000, "interConnect": [
            {"name": "urac", "version": "3", "host": "127.0.0.1", "port": 4001, "latest": "3"}]},
    }  # fmt: skip
    raw = json.dumps(obj)
    obj["key"]["config"]["padding"] = "x" * (size - len(raw) - 16)
    data = json.dumps(obj).encode()
    assert abs(len(data) - size) < 32, len(data)
    return data


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def reading_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    context = get_soajs_context(scope)  # what a handler that uses the tenant pays: the typed models
    body = context.tenant.code.encode() if context is not None else b"-"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def run(app: ASGI, headers: list[tuple[bytes, bytes]], requests: int) -> float:
    """Seconds per request over ``requests`` calls."""
    base = {"type": "http", "method": "GET", "path": "/hello", "headers": headers, "query_string": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    start = time.perf_counter()
    for _ in range(requests):
        await app(dict(base), receive, send)
    return (time.perf_counter() - start) / requests


async def main(requests: int, rounds: int) -> None:
    soajs = [(b"soajsinjectobj", header()), (b"host", b"svc"), (b"user-agent", b"bench")]
    plain = soajs[1:]
    peers: dict[str, tuple[ASGI, list[tuple[bytes, bytes]]]] = {
        "raw ASGI app": (raw_app, soajs),
        "+ SOAJSMiddleware (2 KB header)": (SOAJSMiddleware(raw_app, None), soajs),
        "+ SOAJSMiddleware (no header)": (SOAJSMiddleware(raw_app, None), plain),
        "+ SOAJSMiddleware, eager=True": (SOAJSMiddleware(raw_app, None, eager=True), soajs),
        "+ SOAJSMiddleware, handler reads ctx": (SOAJSMiddleware(reading_app, None), soajs),
    }
    samples: dict[str, list[float]] = {name: [] for name in peers}
    for app, headers in peers.values():
        await run(app, headers, requests // 10)  # warm-up
    for _ in range(rounds):
        for name, (app, headers) in peers.items():
            samples[name].append(await run(app, headers, requests))
    base = statistics.median(samples["raw ASGI app"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append([name, f"{median * 1e6:.2f}", f"{(median - base) * 1e6:+.2f}", f"{median / base:.2f}x"])
    print(f"ASGI middleware overhead, {requests} requests x {rounds} rounds, median round")
    print(table(["app", "µs/request", "added µs", "vs raw"], rows))
    added = statistics.median(samples["+ SOAJSMiddleware (2 KB header)"]) - base
    verdict = "within" if added * 1e6 <= 10 else "OVER"
    print(f"\nSOAJSMiddleware adds {added * 1e6:.2f} µs/request with a 2 KB header: {verdict} the 10 µs goal")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds))
