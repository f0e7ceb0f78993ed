"""``import plugwork`` stays light: no optional integration, no transport library until it is used; a started
service imports nothing of the features it has turned off."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_EXTRAS = {"dev", "bench", "all"}  # tooling, and the union of the others
IMPORT_NAMES = {"opentelemetry_api": "opentelemetry", "opentelemetry_sdk": "opentelemetry"}
# Core dependencies that only a transport needs: imported when the app serves, not at import.
LAZY_CORE = ["uvicorn", "starlette", "websockets", "aiosqlite", "croniter", "click"]


def optional_modules() -> set[str]:
    """Top-level import names of every package that an extra of pyproject.toml installs."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = set()
    for extra, requirements in extras.items():
        if extra in NOT_EXTRAS:
            continue
        for requirement in requirements:
            dist = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")
            if dist.startswith("plugwork"):
                continue
            name = IMPORT_NAMES.get(dist, dist)
            names.add(name.split("_exporter")[0] if name.startswith("opentelemetry") else name)
    return names


def test_import_plugwork_imports_no_optional_integration() -> None:
    code = "import json, sys, plugwork; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.partition(".")[0] for name in json.loads(done.stdout)}
    optional = optional_modules()
    assert {"asyncpg", "uvloop", "httptools", "httpx", "opentelemetry"} <= optional  # the table is read
    assert not optional & loaded, f"import plugwork imported optional packages: {sorted(optional & loaded)}"
    assert not set(LAZY_CORE) & loaded, f"imported at import time: {sorted(set(LAZY_CORE) & loaded)}"


# ------------------------------------------------------------------------------------ a started service

GREETER = ROOT / "examples" / "greeter"
START_TIMEOUT = 30.0  # a bound on waiting, not a performance threshold
# `plugwork run` on the greeter, in-process; once it accepts connections (so the app has started), this
# prints what the process has imported and which plugins take part, then stops it with SIGTERM.
RUN_AND_REPORT = f"""
import json, os, signal, socket, sys, threading, time
port = int(sys.argv[1])

def report():
    deadline = time.monotonic() + {START_TIMEOUT}
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        print(json.dumps({{"error": "not ready"}}), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    app = sys.modules["app"].app
    plugins = [
        [p.name, type(p).__module__, p.settings_model.__module__ if p.settings_model else None]
        for p in app.plugins
    ]
    active = [p.name for p in app.active_plugins]
    print(json.dumps({{"modules": sorted(sys.modules), "plugins": plugins, "active": active}}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=report, daemon=True).start()
from plugwork.cli import main
main(["run", "app:app", "--config", "plugwork.yaml", "--port", str(port)])
"""
# The tracing plugin lives in observability/, beside modules every app uses: its own modules, by name.
TRACING_MODULES = {
    f"plugwork.observability.{name}"
    for name in ("otel", "otel_logs", "otlp_encode", "otlp_http", "span_export", "spans", "tracing")
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def started_greeter(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, str(free_port())],
        cwd=GREETER,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 30,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report (exit {done.returncode}):\n{done.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in report, done.stderr[-3000:]
    return report


@pytest.mark.parametrize("queue", ["sqlite", "none"])
def test_a_started_service_imports_nothing_of_its_disabled_features(tmp_path: Path, queue: str) -> None:
    """A built-in plugin that is off costs its plugin and settings modules; `run` mounts no CLI group."""
    url = f"sqlite:///{tmp_path}/jobs.db" if queue == "sqlite" else "none"
    report = started_greeter({"PLUGWORK_QUEUE_URL": url})
    loaded = set(report["modules"])
    active = set(report["active"])
    expected_active = {"queue"} if queue == "sqlite" else set()
    assert active == expected_active  # the greeter's defaults: so the rest below is really off

    # Each feature package of a plugin that is off holds its plugin and settings modules, nothing else.
    allowed: dict[str, set[str]] = {}
    for _, module, settings_module in report["plugins"]:
        package = module.rpartition(".")[0]
        allowed.setdefault(package, {package}).update({module, settings_module} - {None})
    shared = {"plugwork", "plugwork.http", "plugwork.observability"}  # core; tracing is checked below
    shared |= {module.rpartition(".")[0] for name, module, _ in report["plugins"] if name in active}
    for name, module, _ in report["plugins"]:
        package = module.rpartition(".")[0]
        if package in shared:
            continue
        extra = {m for m in loaded if m.startswith(package + ".")} - allowed[package]
        assert not extra, f"plugin {name!r} is off, yet these are imported: {sorted(extra)}"
    assert "tracing" not in active
    assert not TRACING_MODULES & loaded, sorted(TRACING_MODULES & loaded)

    # `plugwork run` needs no other command: no plugin's CLI module, no entry-point plugin (auth, db).
    cli_modules = {m for m in loaded if m.endswith(".cli") and m.startswith("plugwork.")} - {"plugwork.cli"}
    assert not cli_modules, sorted(cli_modules)
    assert not {m for m in loaded if m.startswith(("plugwork.auth", "plugwork.db"))}
    # The speed extra serves HTTP when installed; aiosqlite (db extra too) is the SQLite queue's driver.
    optional = optional_modules() - {"uvloop", "httptools", "aiosqlite"}
    tops = {m.partition(".")[0] for m in loaded}
    assert not optional & tops, sorted(optional & tops)
    # Metrics are plain numbers until a scrape reads them: no prometheus-client (and its HTTP servers) yet.
    assert "prometheus_client" not in tops
    # uvicorn's WebSocket protocol, and the websockets library, load at a first upgrade request only.
    assert "websockets" not in tops
    # structlog is imported without rich and greenlet (installed here: schemathesis and SQLAlchemy need them).
    assert not {"rich", "greenlet", "pygments"} & tops, sorted({"rich", "greenlet", "pygments"} & tops)


def test_rich_and_greenlet_stay_importable_after_plugwork() -> None:
    code = (
        "import plugwork, structlog.dev, rich.console, greenlet; "
        "print(structlog.dev.rich is None, rich.console.Console is not None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]  # structlog went without; the app may still use rich
