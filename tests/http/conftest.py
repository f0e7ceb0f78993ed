"""The HTTP tests' client: the app of http_app.py started in-process, served over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from http_app import MAX_BODY, make_app

from core_helpers import OFFLINE
from plugwork.testing import TestClient


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(make_app(), max_body_bytes=MAX_BODY, **OFFLINE) as c:
        yield c
