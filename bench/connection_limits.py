"""What the connection limits cost: uvicorn's HTTP protocols beside Plugwork's limited ones, side by side.

The same raw ASGI app (bench/apps/raw_asgi.py: the cheapest app, so the protocol's share is the largest)
under uvicorn with ``--http httptools`` and ``--http plugwork.http.limits:HttpToolsLimits`` (what
``plugwork run`` uses), and the same for h11. Same wrk load for each; prints requests/s and the ratios.

    python bench/connection_limits.py [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, process, table, wait_for_port
from http_rpc import LUA, median_run, run_wrk

APP = "bench.apps.raw_asgi:app"
PAIRS = {
    "httptools": "plugwork.http.limits:HttpToolsLimits",
    "h11": "plugwork.http.limits:H11Limits",
}


def serve(http: str, port: int) -> contextlib.AbstractContextManager[object]:
    cmd = [
        sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", http, "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return process(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    names = [name for pair in PAIRS.items() for name in pair]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        urls = {}
        for name in names:
            port = free_port()
            stack.enter_context(serve(name, port))
            wait_for_port(port)
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
    print(table(["--http", "requests/s", "p50 ms", "p99 ms"], rows))
    print()
    for plain, limited in PAIRS.items():
        print(f"limited / {plain}: {results[limited]['rps'] / results[plain]['rps']:.2f}x")


if __name__ == "__main__":
    main()
