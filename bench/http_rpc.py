"""HTTP RPC benchmark: Plugwork's POST /actions/greet beside bare FastAPI, bare Starlette and raw ASGI.

Every server runs under the same uvicorn settings (one process, uvloop, httptools, no access log) and the
same load generator (wrk: 2 threads, 50 connections by default). Prints requests/s, p50/p99 latency and
the ratios. Needs wrk on PATH (Debian/Ubuntu: apt-get install wrk).

    python bench/http_rpc.py [--duration 10] [--connections 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, table, uvicorn_server

SERVERS = {
    "plugwork": "bench.apps.plugwork_app:asgi",
    "fastapi": "bench.apps.fastapi_app:app",
    "starlette": "bench.apps.starlette_app:app",
    "raw-asgi": "bench.apps.raw_asgi:app",
}
LUA = """
wrk.method = "POST"
wrk.body = '{"name": "World"}'
wrk.headers["Content-Type"] = "application/json"
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def run_wrk(url: str, duration: int, connections: int, threads: int, script: str) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(
            f"{url}: {errors.group(1)} error responses — the benchmark is not measuring success"
        )
    return {"rps": rps, "p50": p50, "p99": p99}


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput (its latencies come with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--only", nargs="*", choices=list(SERVERS), help="run only these servers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    names = args.only or list(SERVERS)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        urls = {}
        for name in names:  # all servers up at once, load applied to one at a time
            port = free_port()
            stack.enter_context(uvicorn_server(SERVERS[name], port))
            urls[name] = f"http://127.0.0.1:{port}/actions/greet"
            run_wrk(urls[name], 2, args.connections, args.threads, lua.name)  # warm-up
        for round_no in range(1, args.rounds + 1):
            for name in names if round_no % 2 else reversed(names):  # alternate order against drift
                print(f"round {round_no}/{args.rounds}: {name}, {args.duration}s of load ...", flush=True)
                runs[name].append(
                    run_wrk(urls[name], args.duration, args.connections, args.threads, lua.name)
                )
    Path(lua.name).unlink()
    results = {name: median_run(r) for name, r in runs.items()}
    rows = [[n, f"{r['rps']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"] for n, r in results.items()]
    print()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds")
    print(table(["server", "requests/s", "p50 ms", "p99 ms"], rows))
    if "plugwork" in results:
        print()
        for peer in ("fastapi", "starlette", "raw-asgi"):
            if peer in results:
                print(f"plugwork / {peer}: {results['plugwork']['rps'] / results[peer]['rps']:.2f}x")


if __name__ == "__main__":
    main()
