"""JWT-protected POST /actions/greet (HS256, a permission to check) beside the same action without auth.

Both servers run the same app under the same uvicorn settings and the same load (wrk: 2 threads, 50
connections by default); every request of the protected one carries a valid bearer token, so every
request pays the full verification (signature, expiry, issuer, permission). Prints requests/s and the ratio
(goal: protected >= 0.8x unprotected). Needs wrk on PATH.

    python bench/auth_http.py [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, table, uvicorn_server
from http_rpc import median_run, run_wrk

SECRET = "bench-secret-0123456789abcdef0123456789"
SERVERS = {"unprotected": "bench.apps.plugwork_app:asgi", "jwt-hs256": "bench.apps.plugwork_auth_app:asgi"}


def lua(token: str | None) -> str:
    lines = [
        'wrk.method = "POST"',
        'wrk.body = \'{"name": "World"}\'',
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or your OS's package)")
    token = jwt.encode(
        {"sub": "bench", "permissions": ["greet"], "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256"
    )
    scripts = {}
    for name in SERVERS:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(lua(token if name == "jwt-hs256" else None))
            scripts[name] = f.name
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    with contextlib.ExitStack() as stack:
        urls = {}
        for name, target in SERVERS.items():
            port = free_port()
            stack.enter_context(uvicorn_server(target, port, {"BENCH_JWT_SECRET": SECRET}))
            urls[name] = f"http://127.0.0.1:{port}/actions/greet"
            run_wrk(urls[name], 2, args.connections, args.threads, scripts[name])  # warm-up (and a 2xx check)
        for round_no in range(1, args.rounds + 1):
            for name in SERVERS if round_no % 2 else reversed(list(SERVERS)):
                print(f"round {round_no}/{args.rounds}: {name}, {args.duration}s of load ...", flush=True)
                runs[name].append(
                    run_wrk(urls[name], args.duration, args.connections, args.threads, scripts[name])
                )
    for path in scripts.values():
        Path(path).unlink()
    results = {name: median_run(r) for name, r in runs.items()}
    rows = [[n, f"{r['rps']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"] for n, r in results.items()]
    print()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds")
    print(table(["server", "requests/s", "p50 ms", "p99 ms"], rows))
    ratio = results["jwt-hs256"]["rps"] / results["unprotected"]["rps"]
    print(f"\njwt-hs256 / unprotected: {ratio:.2f}x (goal >= 0.80x)")


if __name__ == "__main__":
    main()
