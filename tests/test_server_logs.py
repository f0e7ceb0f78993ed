"""No secret in the log lines of the servers Plugwork starts (`plugwork hub`, `plugwork run`), for real."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import httpx
import websockets
from websockets.exceptions import InvalidStatus

from core_helpers import EXAMPLE_DIR
from plugwork.observability.redact import MASK, RedactSecrets, redact
from test_uvicorn import PLUGWORK, free_port, wait_until_ready

START_TIMEOUT = 30.0  # a bound on waiting, not a performance threshold


def test_redact_masks_secret_query_values_and_credentials() -> None:
    line = '127.0.0.1:5 - "WebSocket /websocket?token=abc123&actions=%7B%7D&vsn=2.0.0" [accepted]'
    assert (
        redact(line)
        == f'127.0.0.1:5 - "WebSocket /websocket?token={MASK}&actions=%7B%7D&vsn=2.0.0" [accepted]'
    )
    assert redact("/x?a=1&access_token=s3cr3t&API_KEY=k&password=p&name=ok") == (
        f"/x?a=1&access_token={MASK}&API_KEY={MASK}&password={MASK}&name=ok"
    )
    assert redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y") == f"Authorization: Bearer {MASK}"
    assert redact("phoenix, base64url.bearer.phx.c2VjcmV0LXRva2Vu") == f"phoenix, base64url.bearer.phx.{MASK}"
    prose = "Service API token is invalid; a bearer token is required"
    assert redact(prose) == prose


def test_filter_rewrites_uvicorn_records_before_formatting() -> None:
    access = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/jobs?token=topsecret", "1.1", 200), None,
    )  # fmt: skip
    header = logging.LogRecord("uvicorn.error", logging.DEBUG, "", 0, "< %s: %s", ("Cookie", "sid=1"), None)
    for record in (access, header):
        assert RedactSecrets().filter(record)
    assert "topsecret" not in access.getMessage() and f"token={MASK}" in access.getMessage()
    assert header.getMessage() == f"< Cookie: {MASK}"


def _hub_cli(*args: str) -> dict[str, str]:
    out = subprocess.run([str(PLUGWORK), "hub", *args, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data: dict[str, str] = json.loads(out.stdout)
    return data


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


async def _connect(url: str, subprotocols: list[str] | None = None) -> int:
    """101 when the socket opened, else the refusal's HTTP status."""
    try:
        async with websockets.connect(url, subprotocols=subprotocols, open_timeout=10):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_hub_log_holds_no_token(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/hub.db"
    service = _hub_cli("service", "create", "billing", "--store", store)
    token = _hub_cli("token", "create", service["id"], "--store", store)["value"]
    port = free_port()
    log_file = tmp_path / "hub.log"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [str(PLUGWORK), "hub", "--port", str(port), "--store", store, "--log-level", "debug"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.05)
            base = f"ws://127.0.0.1:{port}/websocket"
            actions = urllib.parse.quote(json.dumps({"Echo": {"description": "", "fields": {}}}))
            wrong = "wrong-but-secret-looking-0123456789"
            b64 = base64.b64encode(token.encode()).decode().rstrip("=")

            async def connect_all() -> list[int]:
                return [
                    await _connect(f"{base}?token={token}&actions={actions}"),
                    await _connect(f"{base}?token={wrong}&actions={actions}"),
                    await _connect(f"{base}?actions={actions}", ["phoenix", f"base64url.bearer.phx.{b64}"]),
                ]

            assert asyncio.run(connect_all()) == [101, 403, 101]
        finally:
            _stop(proc)
    output = log_file.read_text()
    assert "WebSocket /websocket?token=" in output, output  # the lines that used to leak were written
    for secret in (token, wrong, b64, urllib.parse.quote(token)):
        assert secret not in output, output


def test_plugwork_run_log_holds_no_token(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    env["PLUGWORK_QUEUE_URL"] = "none"
    log_file = tmp_path / "server.log"
    secret = "s3cr3t-query-token-0123456789"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [str(PLUGWORK), "run", "app:app", "--config", "plugwork.yaml", "--port", str(port)],
            cwd=EXAMPLE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(proc, base, log_file)
            # The app serves no WebSocket: uvicorn refuses the upgrade and logs its target, query included.
            status = asyncio.run(_connect(f"ws://127.0.0.1:{port}/socket?token={secret}"))
            assert status >= 400
            httpx.get(f"{base}/health?access_token={secret}", headers={"Authorization": f"Bearer {secret}"})
        finally:
            _stop(proc)
    output = log_file.read_text()
    assert f"token={MASK}" in output, output
    assert secret not in output, output
