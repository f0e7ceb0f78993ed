"""A real MongoDB-wire server for tests: CongoDB (from ``@push.rocks/smartmongo`` 2.2.0) on loopback.

No ``mongod`` can be installed on this machine, so tests that need MongoDB run against CongoDB, an in-memory
server speaking the MongoDB wire protocol, written in JavaScript. ``npm install @push.rocks/smartmongo``
cannot resolve on the public registry, so the package is fetched with ``npm pack``, unpacked, and only the
runtime dependencies CongoDB imports are installed, once, into ``.cache/node/congodb/``.

Use it from a ``conftest.py``::

    from support.mongo_wire import mongo_wire_server, mongo_wire_uri  # noqa: F401  (fixtures)

    def test_x(mongo_wire_uri: str) -> None:  # also fine in async tests
        client = pymongo.MongoClient(mongo_wire_uri)  # its own fresh database: client.get_default_database()

``mongo_wire_server`` (session-scoped) is one running :class:`MongoWireServer`; ``mongo_wire_uri`` gives each
test a ``mongodb://127.0.0.1:<port>/<fresh database>?directConnection=true`` URI. Without node/npm both skip
locally with the reason and fail when ``CI=true``. Known gaps of CongoDB: pymongo's ``server_info()`` fails
(it sends ``buildinfo`` in lower case); ``admin.command("hello")`` works.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from .node_tools import JS_DIR, NodeProcess, npm_install

SMARTMONGO = "@push.rocks/smartmongo@2.2.0"
# Exactly what CongoDB imports at run time (smartmongo's own dependency tree does not resolve on npm).
CONGODB_RUNTIME = (
    "bson@6.10.4",
    "mingo@7.2.7",
    "@push.rocks/smartfs@1.5.0",
    "@push.rocks/smartpath@5.1.0",
    "@push.rocks/smartpromise@4.2.3",
    "@push.rocks/smartrx@3.0.10",
)


def install_congodb() -> Path:
    """Install CongoDB into the cache (once) and return the path of its entry module."""
    modules = npm_install("congodb", CONGODB_RUNTIME, packs={SMARTMONGO: "@push.rocks/smartmongo"})
    return modules / "@push.rocks" / "smartmongo" / "dist_ts" / "congodb" / "index.js"


class MongoWireServer:
    """One CongoDB server on ``host`` (loopback) and a free port (or ``port``), in memory.

    A context manager; :meth:`start` installs CongoDB on first use. ``uri`` is ``mongodb://host:port/``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.uri = ""
        self._process: NodeProcess | None = None

    def start(self) -> MongoWireServer:
        """Start the server (installing CongoDB first if needed) and wait until it listens."""
        entry = install_congodb()
        process = NodeProcess([str(JS_DIR / "congodb.mjs"), str(entry), self.host, str(self.port)])
        ready = json.loads(process.start(timeout=30))
        self._process = process
        self.port, self.uri = ready["port"], ready["uri"]
        return self

    def database_uri(self, database: str | None = None) -> str:
        """A URI selecting ``database`` (default: a fresh random name) with ``directConnection=true``."""
        name = database or f"t_{secrets.token_hex(6)}"
        return f"mongodb://{self.host}:{self.port}/{name}?directConnection=true"

    def stop(self) -> None:
        """Stop the server (SIGINT, then SIGKILL); its data is gone."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> MongoWireServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def mongo_wire_server() -> Iterator[MongoWireServer]:
    """One CongoDB server for the whole test session (skips locally / fails in CI without node)."""
    with MongoWireServer() as server:
        yield server


@pytest.fixture
def mongo_wire_uri(mongo_wire_server: MongoWireServer) -> str:
    """A ``mongodb://`` URI to a fresh database of its own on the session's CongoDB server."""
    return mongo_wire_server.database_uri()
