"""Fixtures of the SOAJS tests: a real gateway (soajs.controller on CongoDB), and servers in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from support.mongo_wire import mongo_wire_server, mongo_wire_uri  # noqa: F401  (fixtures)
from support.soajs_gateway import soajs_gateway  # noqa: F401  (fixture)


@contextmanager
def uvicorn_thread(app: Any, port: int) -> Iterator[None]:
    """Serve an ASGI app on 127.0.0.1:``port`` in a thread, for as long as the block runs."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, "uvicorn")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def wsgi_thread(app: Any, port: int) -> Iterator[None]:
    """Serve a WSGI app on 127.0.0.1:``port`` with werkzeug in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(10)


def _wait(done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {timeout} s")
        time.sleep(0.02)
