"""The official ``phoenix`` npm client, run by Node, as a V2 consumer of the hub.

The test installs ``tests/plugboard/js`` with npm when its ``node_modules`` is missing. Without node or npm
it skips locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_helpers import ACTIONS, Credentials, RunningHub, produce

pytestmark = pytest.mark.node
JS_DIR = Path(__file__).resolve().parent.parent / "js"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with the JS test package installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the phoenix.js test"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing tool is a failure)")
        pytest.skip(message)
    if not (JS_DIR / "node_modules" / "phoenix").is_dir():
        # exact versions are pinned in package.json; no lockfile is kept (see .npmrc)
        command = [npm, "install", "--no-package-lock", "--no-audit", "--no-fund"]
        result = subprocess.run(command, cwd=JS_DIR, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"npm install failed:\n{result.stdout}\n{result.stderr}"
    return node


async def read_json_line(stream: asyncio.StreamReader, key: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            line = await stream.readline()
            assert line, f"the node consumer exited before printing {key!r}"
            data: dict[str, Any] = json.loads(line)
            assert "error" not in data, data
            if key in data:
                return data


def _actions(mode: str) -> dict[str, Any]:
    """In ``join`` mode, a map far too long for a URL: it travels in the channel's join params."""
    if mode != "join":
        return ACTIONS
    return {**ACTIONS, **{f"Extra{i:03d}": {"description": "x" * 80, "fields": {}} for i in range(150)}}


@pytest.mark.parametrize("mode", ["query", "authToken", "join"])
async def test_phoenix_js_client_answers_a_producer(
    node: str, hub: RunningHub, creds: Credentials, client: httpx.AsyncClient, mode: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "consumer.cjs"),
        f"ws://127.0.0.1:{hub.port}",
        creds.token,
        json.dumps(_actions(mode)),
        mode,
        cwd=JS_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        joined = (await read_json_line(process.stdout, "joined"))["joined"]
        assert joined["service"]["id"] == creds.service_id
        assert joined["token"]["id"] == creds.token_id and joined["num_consumers"] == 1
        [socket] = hub.hub.sockets.values()
        assert socket.serializer.vsn == "2.0.0"  # the JS client always speaks V2
        body = {"service_id": creds.service_id, "action": "Echo", "fields": {"text": "hello js"}}
        response = await produce(client, creds.account_token, body)
        assert response.status_code == 200
        assert response.json() == {
            "status_code": 200,
            "message": "answered by phoenix.js",
            "fields": {"action": "Echo", "echo": {"text": "hello js"}, "vsn": "2.0.0"},
        }
        request = (await read_json_line(process.stdout, "request"))["request"]
        assert request["action"] == "Echo" and request["response_ref"]
    finally:
        process.stdin.close()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
