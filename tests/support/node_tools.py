"""Node.js tooling for the test harnesses: npm installs cached under ``.cache/node/`` and child processes.

Each tool set is installed once into its own folder of the git-ignored ``.cache/node/`` (exact versions, no
lockfile) and reused by later runs: a ``.installed`` stamp records what was installed, and a file lock keeps
two pytest processes from installing into the same folder at once. Without node or npm the tests that need
them skip locally with the reason and fail when ``CI=true``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_CACHE = ROOT / ".cache" / "node"
JS_DIR = Path(__file__).resolve().parent / "node"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INSTALL_TIMEOUT = 600.0


def missing(what: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose tool or server is missing."""
    message = f"{what} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)")
    pytest.skip(message)


def node_and_npm() -> tuple[str, str]:
    """The node and npm executables, or a skip (locally) / failure (CI) naming what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js", "node and npm must be on PATH")
    assert node is not None and npm is not None
    return node, npm


def npm_install(name: str, packages: Sequence[str], packs: Mapping[str, str] | None = None) -> Path:
    """Install ``packages`` (exact ``name@version`` specs) into ``.cache/node/<name>``; return node_modules.

    ``packs`` maps a package spec to install by ``npm pack`` + unpack instead of ``npm install``, for a
    package whose own dependency tree cannot be resolved (only its runtime imports are installed, through
    ``packages``). Reused as is when the stamp matches.
    """
    _, npm = node_and_npm()
    folder = NODE_CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    wanted = json.dumps({"packages": sorted(packages), "packs": sorted((packs or {}).items())})
    stamp = folder / ".installed"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run waits here for the first install to finish
        if stamp.exists() and stamp.read_text() == wanted:
            return folder / "node_modules"
        stamp.unlink(missing_ok=True)
        (folder / "package.json").write_text(json.dumps({"name": f"plugwork-test-{name}", "private": True}))
        flags = ["--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
        _run([npm, "install", *flags, *packages], folder)
        # After `npm install`, which would prune an unpacked package it does not know as extraneous.
        for spec, target in (packs or {}).items():
            _unpack(npm, spec, folder, folder / "node_modules" / target)
        stamp.write_text(wanted)
    return folder / "node_modules"


def _run(command: list[str], cwd: Path) -> str:
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command[:3])} ... timed out after {INSTALL_TIMEOUT:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command[:3])} ... failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def _unpack(npm: str, spec: str, folder: Path, target: Path) -> None:
    out = _run([npm, "pack", spec, "--pack-destination", str(folder), "--json", "--loglevel=error"], folder)
    tarball = folder / json.loads(out)[0]["filename"]
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        members = []
        for member in archive.getmembers():
            # npm tarballs hold one top folder, "package/": strip it.
            member.name = member.name.partition("/")[2]
            if member.name:
                members.append(member)
        archive.extractall(target, members=members, filter="data")
    tarball.unlink()


class NodeProcess:
    """A node child process that prints one ``READY <json>`` line when it is up.

    A reader thread keeps its output (the last 2,000 lines) so that a chatty process never blocks on a full
    pipe. Stopped by :meth:`stop`: stdin closed and SIGINT first (the SOAJS controller ignores SIGTERM),
    then SIGKILL.
    """

    def __init__(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        node, _ = node_and_npm()
        self.args = [node, *args]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.output: deque[str] = deque(maxlen=2000)
        self._seen = 0  # lines read in total, to scan only new ones
        self._changed = threading.Condition()

    def launch(self) -> None:
        """Start the process (its output is collected from now on)."""
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()

    def start(self, ready_prefix: str = "READY ", timeout: float = 30.0) -> str:
        """Start the process and return what follows ``ready_prefix`` on its ready line."""
        self.launch()
        try:
            line = self.wait_for(lambda text: text.startswith(ready_prefix), timeout)
        except BaseException:
            self.stop()
            raise
        return line[len(ready_prefix) :]

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            with self._changed:
                self.output.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._seen += 1
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, match: Callable[[str], bool], timeout: float, *, since: int = 0) -> str:
        """Wait for an output line (the ``since``-th or later) matching ``match``; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                new = self._seen - since
                for text in list(self.output)[-new:] if new > 0 else []:
                    if match(text):
                        return text
                since = self._seen
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.args[1]} exited:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.args[1]}: no matching line in {timeout:.0f} s:\n{self.tail()}")
                self._changed.wait(min(left, 0.5))

    @property
    def lines_seen(self) -> int:
        """How many lines the process printed so far (a ``since`` for :meth:`wait_for`)."""
        return self._seen

    def tail(self, lines: int = 60) -> str:
        """The last lines the process printed."""
        return "\n".join(list(self.output)[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """Close stdin, send SIGINT, wait ``grace`` seconds, then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()
            process.send_signal(signal.SIGINT)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(grace)
        if process.stdout is not None:
            process.stdout.close()
