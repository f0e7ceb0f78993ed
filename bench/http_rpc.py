"""HTTP RPC benchmark: the greeter example as users start it (``plugwork run``) beside peers.

Plugwork runs the way ``make run`` starts it: ``plugwork run app:app --config plugwork.yaml`` in
``examples/greeter``, with its default settings — console log lines at INFO (the greeter logs one line per
request), the SQLite job queue and its worker in-process, metrics, correlation ids. Two labelled variants
change one setting each: ``--log-json`` (one JSON line per request) and ``PLUGWORK_LOG_LEVEL=WARNING`` (no
per-request line). Log output goes to /dev/null. The peers do the same validation and answer under
uvicorn with the same options (uvloop, httptools, no access log): a bare FastAPI endpoint, a bare Starlette
route and a raw ASGI callable. All servers are up at once; load (wrk: 2 threads, 50 connections) goes to
one at a time, rounds interleaved, the median round reported. Also printed: how long ``plugwork run`` takes
until it accepts connections, and the greeter's resident memory once started (idle) and after the load.
Needs wrk on PATH (Debian/Ubuntu: apt-get install wrk).

``--paired A B`` loads two of the servers **at once** instead, each with its own wrk (one thread, half
the connections), and prints B's throughput over A's per round and their median. On a shared machine
whose speed drifts from minute to minute this is the steadier comparison: the drift hits both servers
alike. ``--paired "plugwork log WARNING" "plugwork log WARNING"`` shows the method's own spread.

    python bench/http_rpc.py [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
    python bench/http_rpc.py --paired "plugwork log WARNING" "plugwork json-log" [--rounds 5] [--duration 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, table, uvicorn_server, wait_for_port

GREETER = ROOT / "examples" / "greeter"
PLUGWORK = {  # name: (extra CLI options, extra environment)
    "plugwork": ([], {}),
    "plugwork json-log": (["--log-json"], {}),
    "plugwork log WARNING": ([], {"PLUGWORK_LOG_LEVEL": "WARNING"}),
}
PEERS = {
    "fastapi": "bench.apps.fastapi_app:app",
    "starlette": "bench.apps.starlette_app:app",
    "raw-asgi": "bench.apps.raw_asgi:app",
}
SERVERS = [*PLUGWORK, *PEERS]
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def plugwork_command() -> list[str]:
    exe = Path(sys.executable).parent / "plugwork"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "plugwork.cli"]


@contextlib.contextmanager
def plugwork_run(port: int, options: list[str], env: dict[str, str], info: dict[str, float]) -> Iterator[int]:
    """``plugwork run app:app --config plugwork.yaml`` in examples/greeter; yields its pid."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            *plugwork_command(),
            "run",
            "app:app",
            "--config",
            "plugwork.yaml",
            "--port",
            str(port),
            *options,
        ]
        # The default SQLite queue file is .plugwork/jobs.db under the working directory: keep it per run.
        full_env = {**os.environ, "PLUGWORK_QUEUE_URL": f"sqlite:///{tmp}/jobs.db", **env}
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=GREETER, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(port)
            info["ready_s"] = time.perf_counter() - started
            time.sleep(1.0)
            info["idle_rss_mb"] = rss_mb(proc.pid)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def started(name: str, info: dict[str, float]) -> Iterator[str]:
    """Start server ``name`` (a Plugwork variant or a peer); yields its greet URL."""
    port = free_port()
    if name in PLUGWORK:
        options, env = PLUGWORK[name]
        with plugwork_run(port, options, env, info):
            yield f"http://127.0.0.1:{port}/actions/greet"
    else:
        with uvicorn_server(PEERS[name], port):
            yield f"http://127.0.0.1:{port}/actions/greet"


def paired(names: list[str], args: argparse.Namespace, script: str) -> None:
    """Load both servers at once, each with its own wrk; print the second's throughput over the first's."""
    connections = max(1, args.connections // 2)
    ratios = []

    def both(urls: list[str], duration: int) -> list[dict[str, float]]:
        # Threads, not concurrent.futures: bench/queue.py shadows the standard library's queue module here.
        results: list[dict[str, float]] = [{}, {}]

        def load(i: int) -> None:
            results[i] = run_wrk(urls[i], duration, connections, 1, script)

        threads = [threading.Thread(target=load, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not all(results):
            raise RuntimeError("a wrk run failed (see above)")
        return results

    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(started(name, {})) for name in names]  # one process each, even if alike
        both(urls, 2)  # warm-up
        for round_no in range(1, args.rounds + 1):
            a, b = both(urls, args.duration)
            ratios.append(b["rps"] / a["rps"])
            print(
                f"round {round_no}/{args.rounds}: {names[0]} {a['rps']:,.0f}, {names[1]} {b['rps']:,.0f}"
                f" requests/s: {ratios[-1]:.3f}x",
                flush=True,
            )
    print(f"\nboth loaded at once, each by wrk -t1 -c{connections} -d{args.duration}s")
    print(f"{names[1]} / {names[0]}: median {statistics.median(ratios):.2f}x", end=" ")
    print(f"(rounds: {', '.join(f'{r:.2f}' for r in sorted(ratios))})")


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput (its latencies come with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--only", nargs="*", choices=SERVERS, help="run only these servers")
    parser.add_argument(
        "--paired", nargs=2, choices=SERVERS, metavar=("A", "B"), help="load A and B at once; print B/A"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    if args.paired:
        try:
            paired(args.paired, args, lua.name)
        finally:
            Path(lua.name).unlink()
        return
    names = args.only or SERVERS
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    info: dict[str, dict[str, float]] = {name: {} for name in names if name in PLUGWORK}
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for name in names:  # all servers up at once, load applied to one at a time
            port = free_port()
            if name in PLUGWORK:
                options, env = PLUGWORK[name]
                pids[name] = stack.enter_context(plugwork_run(port, options, env, info[name]))
            else:
                pids[name] = stack.enter_context(uvicorn_server(PEERS[name], port)).pid
            urls[name] = f"http://127.0.0.1:{port}/actions/greet"
            run_wrk(urls[name], 2, args.connections, args.threads, lua.name)  # warm-up
        for round_no in range(1, args.rounds + 1):
            for name in names if round_no % 2 else list(reversed(names)):  # alternate order against drift
                print(f"round {round_no}/{args.rounds}: {name}, {args.duration}s of load ...", flush=True)
                cpu = cpu_seconds(pids[name])
                run = run_wrk(urls[name], args.duration, args.connections, args.threads, lua.name)
                # CPU per request of the server process: steadier than requests/s on a shared machine.
                run["cpu_us"] = 1e6 * (cpu_seconds(pids[name]) - cpu) / (run["rps"] * args.duration)
                runs[name].append(run)
        for name in info:
            info[name]["loaded_rss_mb"] = rss_mb(pids[name])
    Path(lua.name).unlink()
    results = {name: median_run(r) for name, r in runs.items()}
    cpu = {name: sorted(r["cpu_us"] for r in rs)[len(rs) // 2] for name, rs in runs.items()}
    rows = [
        [n, f"{r['rps']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{cpu[n]:.1f}"]
        for n, r in results.items()
    ]
    print()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds")
    print("plugwork = `plugwork run app:app --config plugwork.yaml` in examples/greeter, default settings")
    print(table(["server", "requests/s", "p50 ms", "p99 ms", "server CPU µs/req (median)"], rows))
    if info:
        print()
        rows = [
            [n, f"{i['ready_s']:.2f}", f"{i['idle_rss_mb']:.1f}", f"{i.get('loaded_rss_mb', 0):.1f}"]
            for n, i in info.items()
        ]
        print(table(["plugwork run", "ready s", "idle RSS MB", "RSS after load MB"], rows))
    print()
    for name in PLUGWORK:
        if name not in results:
            continue
        for peer in ("plugwork log WARNING", *PEERS):
            if peer in results and peer != name:
                print(f"{name} / {peer}: {results[name]['rps'] / results[peer]['rps']:.2f}x")


if __name__ == "__main__":
    main()
