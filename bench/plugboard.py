"""Plugboard benchmark: producer -> hub -> consumer -> producer round trips beside direct HTTP calls.

One run starts, as separate processes: the bench app served over HTTP (``POST /actions/greet``) the way
users serve it, ``plugwork run bench.apps.consumer_app:app`` without a hub (log level WARNING, no job
queue); a Plugwork hub (``plugwork hub`` on a fresh SQLite store); and 1, then 4, Plugwork consumers of the
same action, each started as users start one: the same ``plugwork run`` with ``PLUGWORK_PLUGBOARD_URL`` and
``PLUGWORK_PLUGBOARD_TOKEN`` set. The same load generator (wrk) drives each: one request at a time
(``-t1 -c1``) and 50 concurrent producers (``-t2 -c50``). Prints requests/s and p50/p99 latency of each,
the CPU time per request of every process under the concurrent load (wrk's too), the latency the hub adds
to the p50 round trip and the hub's share of the direct throughput. Needs wrk on PATH (apt-get install wrk).

    python bench/plugboard.py [--duration 5] [--connections 50] [--ws IMPL] [--profile hub.prof]

Goals (issue 4): one request at a time the hub adds <= 1 ms to the p50; under 50 concurrent producers it
sustains >= half the direct HTTP throughput. ``--profile FILE`` runs the hub under cProfile and prints its
top functions after the run (cProfile slows the hub: take the figures from a run without it; py-spy
attached to the hub process gives a truer picture).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, process, table, wait_for_port
from http_rpc import run_wrk

DIRECT_LUA = """
wrk.method = "POST"
wrk.body = '{"name": "World"}'
wrk.headers["Content-Type"] = "application/json"
"""
HUB_LUA = """
wrk.method = "POST"
wrk.body = '{"service_id": "%(service_id)s", "action": "greet", "fields": {"name": "World"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(account_token)s"
"""


def _hub_cli(store_url: str, *args: str) -> dict[str, str]:
    # Through the CLI, as a script would: this process cannot import aiosqlite (bench/queue.py shadows queue).
    cmd = [sys.executable, "-m", "plugwork.plugboard.hub.cli", *args, "--store", store_url, "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    created: dict[str, str] = json.loads(out)
    return created


def credentials(store_url: str) -> dict[str, str]:
    """A producer account, a service and a token for it, made with ``plugwork hub ...``."""
    account = _hub_cli(store_url, "account", "create", "bench")
    service = _hub_cli(store_url, "service", "create", "bench")
    token = _hub_cli(store_url, "token", "create", service["id"])
    return {"account_token": account["token"], "service_id": service["id"], "token": token["value"]}


def wait_consumers(port: int, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                health = json.loads(response.read())
            if health["checks"]["consumers"]["details"]["connected"] >= count:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{count} consumer(s) did not join the hub within {timeout}s")


def measure(
    url: str, lua: str, duration: int, connections: int, pids: dict[str, list[int]]
) -> dict[str, dict[str, float]]:
    """Both loads; under the concurrent one, also the CPU µs per request of each role (``pids``) and wrk."""
    run_wrk(url, 1, connections, 2, lua)  # warm-up
    sequential = run_wrk(url, duration, 1, 1, lua)
    before = {role: sum(cpu_seconds(pid) for pid in group) for role, group in pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is this process's child
    concurrent = run_wrk(url, duration, connections, 2, lua)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = concurrent["rps"] * duration
    cpu = {
        role: 1e6 * (sum(cpu_seconds(pid) for pid in group) - before[role]) / requests
        for role, group in pids.items()
    }
    wrk = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    cpu["wrk"] = 1e6 * wrk / requests
    return {"sequential": sequential, "concurrent": concurrent, "cpu_us": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=50, help="concurrent producers")
    parser.add_argument("--profile", help="run the hub under cProfile, writing this file")
    parser.add_argument(
        "--ws", help="the hub's WebSocket implementation (plugwork hub --ws; default: websockets-sansio)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    workdir = Path(tempfile.mkdtemp(prefix="plugboard-bench-"))
    store_url = f"sqlite:///{workdir}/hub.db"
    creds = credentials(store_url)
    direct_lua, hub_lua = workdir / "direct.lua", workdir / "hub.lua"
    direct_lua.write_text(DIRECT_LUA)
    hub_lua.write_text(HUB_LUA % creds)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    hub_port, direct_port = free_port(), free_port()
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    hub_cmd = [sys.executable, *profile, "-m", "plugwork.plugboard.hub.cli", "--port", str(hub_port)]
    hub_cmd += ["--store", store_url, "--log-level", "warning", *(["--ws", args.ws] if args.ws else [])]
    # Consumers as users run them: `plugwork run` with the hub's URL and token in the environment.
    plugwork = Path(sys.executable).parent / "plugwork"
    app_env = {"PLUGWORK_QUEUE_URL": "none", "PLUGWORK_LOG_LEVEL": "WARNING"}
    consumer_env = {
        **app_env,
        "PLUGWORK_PLUGBOARD_URL": f"ws://127.0.0.1:{hub_port}/websocket",
        "PLUGWORK_PLUGBOARD_TOKEN": creds["token"],
    }
    with contextlib.ExitStack() as stack:
        cmd = [str(plugwork), "run", "bench.apps.consumer_app:app", "--port", str(direct_port)]
        direct = stack.enter_context(process(cmd, app_env))
        wait_for_port(direct_port)
        print("direct HTTP (plugwork run, no hub): POST /actions/greet ...", flush=True)
        results["direct HTTP"] = measure(
            f"http://127.0.0.1:{direct_port}/actions/greet",
            str(direct_lua),
            args.duration,
            args.connections,
            {"server": [direct.pid]},
        )
        hub = stack.enter_context(process(hub_cmd))
        wait_for_port(hub_port)
        consumers: list[int] = []
        for count in (1, 4):
            while len(consumers) < count:
                cmd = [str(plugwork), "run", "bench.apps.consumer_app:app", "--port", str(free_port())]
                consumers.append(stack.enter_context(process(cmd, consumer_env)).pid)
            wait_consumers(hub_port, count)
            print(f"hub, {count} consumer(s): POST / ...", flush=True)
            results[f"hub, {count} consumer(s)"] = measure(
                f"http://127.0.0.1:{hub_port}/",
                str(hub_lua),
                args.duration,
                args.connections,
                {"hub": [hub.pid], "consumers": list(consumers)},
            )
    shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.connections)
    if args.profile:
        print()
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)


def report(results: dict[str, dict[str, dict[str, Any]]], connections: int) -> None:
    rows = []
    for name, runs in results.items():
        seq, conc = runs["sequential"], runs["concurrent"]
        rows.append([
            name,
            f"{seq['rps']:,.0f}", f"{seq['p50']:.3f}", f"{seq['p99']:.3f}",
            f"{conc['rps']:,.0f}", f"{conc['p50']:.2f}", f"{conc['p99']:.2f}",
        ])  # fmt: skip
    print()
    headers = [
        "path",
        "1-at-a-time req/s",
        "p50 ms",
        "p99 ms",
        f"{connections} producers req/s",
        "p50 ms",
        "p99 ms",
    ]
    print(table(headers, rows))
    print(f"\nCPU µs per request under {connections} producers, by process (wrk: the load generator):")
    for name, runs in results.items():
        cpu = runs["cpu_us"]
        parts = ", ".join(f"{role} {value:.1f}" for role, value in cpu.items())
        served = sum(value for role, value in cpu.items() if role != "wrk")
        print(f"  {name}: {parts} (served {served:.1f}, with wrk {sum(cpu.values()):.1f})")
    direct = results["direct HTTP"]
    print()
    for name, runs in results.items():
        if name == "direct HTTP":
            continue
        added = runs["sequential"]["p50"] - direct["sequential"]["p50"]
        ratio = runs["concurrent"]["rps"] / direct["concurrent"]["rps"]
        print(
            f"{name}: adds {added:.3f} ms to the p50 round trip (goal <= 1 ms); "
            f"{ratio:.2f}x the direct throughput under {connections} producers (goal >= 0.5x)"
        )


if __name__ == "__main__":
    main()
