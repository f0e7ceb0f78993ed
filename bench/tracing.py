"""Tracing overhead: the same Plugwork HTTP action with tracing off, on (every request sampled) and at 1%.

Four servers side by side in one run, each started as users start one (``plugwork run MODULE:app``, default
settings, log level WARNING), the same wrk load, rounds interleaved:

- ``baseline``: the app without the tracing plugin (today's pipeline);
- ``off``: the tracing plugin added, no OTLP endpoint set (the default: it must cost nothing);
- ``on-100%``: every request traced (SERVER span, W3C propagation) and exported over OTLP/HTTP to a sink
  process that accepts everything — the batch export thread runs in the server process, as in production;
- ``on-1%``: ``parentbased_traceidratio`` at 0.01.

Two measures per server: wall time per request (1/throughput of a saturated server) and the server
process's CPU time per request (its user+system time from /proc over the run, divided by the requests
served, its export thread included). On a shared machine the CPU figure is the steadier one: other
processes stealing the cores change the first, not the second. The table shows both and what each adds
to ``baseline`` (goals: off within noise, on-100% at most +40 µs, 1% at most +10 µs). Needs wrk and
Linux (/proc).

    python bench/tracing.py [--duration 10] [--rounds 3] [--connections 50]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_seconds, free_port, process, table, wait_for_port
from http_rpc import LUA, median_run, plugwork_command, run_wrk

BASELINE = "bench.apps.plugwork_app:app"
TRACED = "bench.apps.plugwork_traced:app"


def variants(sink: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Each server: its ASGI target and environment."""
    quiet = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    return {
        "baseline": (BASELINE, quiet),
        "off": (TRACED, quiet),
        "on-100%": (TRACED, on),
        "on-1%": (
            TRACED,
            {**on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
        ),
    }


def measured(url: str, pid: int, args: argparse.Namespace, script: str) -> dict[str, float]:
    """One wrk run, with the server's CPU microseconds per request."""
    before = cpu_seconds(pid)
    result = run_wrk(url, args.duration, args.connections, args.threads, script)
    requests = result["rps"] * args.duration
    if requests:
        result["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / requests
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    with contextlib.ExitStack() as stack:
        sink_port = free_port()
        stack.enter_context(process([sys.executable, "-m", "bench.apps.otlp_sink", str(sink_port)]))
        wait_for_port(sink_port)
        servers = variants(f"http://127.0.0.1:{sink_port}")
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        for name, (target, env) in servers.items():
            port = free_port()
            cmd = [*plugwork_command(), "run", target, "--port", str(port), "--log-level", "WARNING"]
            pids[name] = stack.enter_context(process(cmd, env)).pid
            wait_for_port(port)
            urls[name] = f"http://127.0.0.1:{port}/actions/greet"
            run_wrk(urls[name], 2, args.connections, args.threads, lua.name)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        names = list(servers)
        for round_no in range(1, args.rounds + 1):
            for name in names if round_no % 2 else reversed(names):  # alternate order against drift
                print(f"round {round_no}/{args.rounds}: {name}, {args.duration}s of load ...", flush=True)
                runs[name].append(measured(urls[name], pids[name], args, lua.name))
    Path(lua.name).unlink()
    results = {name: median_run(r) for name, r in runs.items()}
    cpu = {name: sorted(x.get("cpu_us", float("nan")) for x in r)[len(r) // 2] for name, r in runs.items()}
    base_us = 1e6 / results["baseline"]["rps"]
    rows = []
    for name, r in results.items():
        per_request = 1e6 / r["rps"]
        rows.append(
            [
                name,
                f"{r['rps']:,.0f}",
                f"{r['rps'] / results['baseline']['rps']:.2f}x",
                f"{per_request:.1f}",
                f"{per_request - base_us:+.1f}",
                f"{cpu[name]:.1f}",
                f"{cpu[name] - cpu['baseline']:+.1f}",
                f"{r['p50']:.2f}",
                f"{r['p99']:.2f}",
            ]
        )
    print()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds")
    headers = ["tracing", "requests/s", "vs baseline", "wall µs/req", "added", "CPU µs/req", "added"]
    print(table([*headers, "p50 ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
