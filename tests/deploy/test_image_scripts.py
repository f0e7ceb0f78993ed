"""The image's scripts (deploy/bin), run outside a container: the entrypoint's *_FILE secrets and the
HEALTHCHECK."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_helpers import BIN, DEPLOY, VENV_BIN, tool


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = f"{BIN}{os.pathsep}{VENV_BIN}{os.pathsep}/usr/bin:/bin"
    return subprocess.run(
        list(args), env={"PATH": path, **(env or {})}, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_scripts_pass_shellcheck() -> None:
    scripts = [str(path) for path in sorted(BIN.iterdir())] + [str(DEPLOY / "measure-idle-rss.sh")]
    result = tool("shellcheck", *scripts)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_entrypoint_reads_file_secrets_and_hides_the_file_variables(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-value\n")
    result = run(
        "plugwork-entrypoint",
        "sh",
        "-c",
        'echo "$PLUGWORK_PLUGBOARD_TOKEN|${PLUGWORK_PLUGBOARD_TOKEN_FILE:-unset}|$PGPASSWORD"',
        env={"PLUGWORK_PLUGBOARD_TOKEN_FILE": str(secret), "PGPASSWORD_FILE": str(secret)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "s3cret-value|unset|s3cret-value\n"


def test_the_entrypoint_refuses_two_sources_and_unreadable_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-value")
    both = run(
        "plugwork-entrypoint",
        "true",
        env={"PLUGWORK_JOBS_API_TOKEN": "x", "PLUGWORK_JOBS_API_TOKEN_FILE": str(secret)},
    )
    assert both.returncode == 64 and "set only one" in both.stderr
    missing = run("plugwork-entrypoint", "true", env={"PGPASSWORD_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 66 and "cannot be read" in missing.stderr
    assert "s3cret" not in both.stderr + missing.stderr


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/live" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_asks_health_live_on_the_http_port(health_server: int) -> None:
    assert run("plugwork-healthcheck", env={"HTTP_PORT": str(health_server)}).returncode == 0
    url = f"http://127.0.0.1:{health_server}/health/ready"  # this server answers 503 there
    failed = run("plugwork-healthcheck", env={"PLUGWORK_HEALTHCHECK_URL": url})
    assert failed.returncode == 1 and "unhealthy" in failed.stderr


def test_the_healthcheck_fails_when_nothing_listens(health_server: int) -> None:
    result = run("plugwork-healthcheck", env={"HTTP_PORT": "1"})
    assert result.returncode == 1 and "unhealthy" in result.stderr
