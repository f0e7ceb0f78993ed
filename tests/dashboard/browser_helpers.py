"""What the browser tests share: the system chromium, a ``plugwork`` process to test against, bounded waits.

Chromium is Debian's ``chromium`` driven by Playwright's Python client with ``executable_path`` (no browser is
downloaded). Without it, or without the ``playwright`` package, a test skips locally and fails under
``CI=true`` (``require_server`` of tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

_spec = importlib.util.spec_from_file_location(
    "plugwork_tests_root", Path(__file__).parents[1] / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_root: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)  # tests/conftest.py is importable only by path (every conftest shares a name)
require_server = _root.require_server

CHROMIUM = "/usr/bin/chromium"
PLUGWORK = Path(sys.executable).parent / "plugwork"
EXAMPLES = Path(__file__).parents[2] / "examples"
SHOTS = Path(__file__).parent / "screenshots"
WAIT = 30.0  # a bound on waiting, not a performance threshold


def require_browser() -> Any:
    """Playwright's ``sync_playwright``, once chromium and the package are known to be there."""
    if not Path(CHROMIUM).exists():
        require_server("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_server("chromium", "the playwright package is not installed")
    SHOTS.mkdir(exist_ok=True)
    return sync_playwright


@contextmanager
def browser_page(pw: Any, url: str, *, height: int) -> Iterator[tuple[Any, list[str]]]:
    """The system chromium at ``url`` (1280 by ``height`` pixels): yields the page and the script errors it
    records; the browser is closed at the end."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        yield page, errors
    finally:
        browser.close()


def sign_in(page: Any, token: str) -> None:
    """Submit ``token`` in the dashboard's sign-in form."""
    page.fill("#signin-form input[name=token]", token)
    page.click("#signin-form button")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def until(what: str, check: Any, timeout: float = WAIT) -> Any:
    """Poll ``check`` until it returns something true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``PLUGWORK_`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    return env | settings


@contextmanager
def plugwork(args: list[str], ready_url: str, log: Path, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run ``plugwork ARGS`` until the block ends (SIGTERM, then kill); ready once ``ready_url`` says 200."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PLUGWORK), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"plugwork {args[0]} exited with {proc.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(ready_url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        until(f"plugwork {args[0]}", ready)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
