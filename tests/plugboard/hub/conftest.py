"""Fixtures: a running hub (real uvicorn on a free port, SQLite store in tmp) with credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hub_helpers import Credentials, RunningHub, fast_settings, make_credentials, running_hub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(fast_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def creds(hub: RunningHub) -> Credentials:
    return await make_credentials(hub.hub)


@pytest.fixture
async def client(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        yield http
