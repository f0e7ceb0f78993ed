# ruff: noqa: E402  (sys.path is fixed before the other imports, see there)
"""What one log line costs: Plugwork's logging as ``plugwork run`` configures it, beside stock set-ups.

Each variant logs ``log.info("greeting", name="World")`` inside an invocation context (a correlation id
and an action, as a request handler does) to /dev/null opened as a real file descriptor, and reports the
process CPU time per line (all threads: Plugwork's writer thread counts too), median of 5 runs:

* ``plugwork json`` / ``plugwork console``: ``configure_logging(json=...)``, what ``plugwork run`` calls;
* ``structlog stock json``: structlog's usual chain (merge_contextvars, add_log_level, TimeStamper,
  JSONRenderer) with its ``WriteLoggerFactory`` (one write and flush per line);
* ``stdlib logging``: ``logging.getLogger().info(...)`` through a StreamHandler with a plain Formatter.

    python bench/log_line.py [--lines 50000]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder comes first on sys.path, and bench/queue.py would shadow the stdlib's queue.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import logging
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["plugwork json", "plugwork console", "structlog stock json", "stdlib logging"]


def measure(variant: str, lines: int) -> float:
    """CPU µs per line of ``variant``, in this process."""
    from plugwork.context import Context, current_context

    out = open(os.devnull, "w")  # noqa: SIM115  (kept open for the whole run)
    if variant.startswith("plugwork"):
        from plugwork.observability.logging import configure_logging, flush_logs, get_logger

        configure_logging(json=variant.endswith("json"), level="INFO", stream=out)
        log = get_logger("greeter")
        call = log.info
        done = flush_logs
    elif variant == "structlog stock json":
        import structlog

        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.WriteLoggerFactory(file=out),
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            cache_logger_on_first_use=True,
        )
        call = structlog.get_logger("greeter").info
        done = out.flush
    else:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        std = logging.getLogger("greeter")
        std.addHandler(handler)
        std.setLevel(logging.INFO)
        std.propagate = False

        def call(event: str, **kw: object) -> None:
            std.info("%s %s", event, kw)

        done = out.flush
    current_context.set(Context(correlation_id="5fbcf08f" * 4, action="greet"))
    for _ in range(1000):
        call("greeting", name="World")
    started = time.process_time()
    for _ in range(lines):
        call("greeting", name="World")
    done()
    return 1e6 * (time.process_time() - started) / lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(measure(args.variant, args.lines))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.runs):  # interleaved, a fresh process each time
        for variant in VARIANTS:
            cmd = [sys.executable, __file__, "--variant", variant, "--lines", str(args.lines)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            results[variant].append(float(out.strip().splitlines()[-1]))
    print(f"\nCPU µs per log line (median of {args.runs} runs of {args.lines} lines, to /dev/null)\n")
    for variant, values in results.items():
        print(f"{variant:<22} {statistics.median(values):6.2f}")


if __name__ == "__main__":
    main()
